"""Writing ahead-of-time packages (`.tcpkg`, format in docs/package.md).

    compile_package(prog, "m.tcpkg", cpu="host")     # tg Program → package
    tensorc.compile(prog, target="llvm-cpu").save("m.tcpkg")

A package is one deterministic zip: `manifest.json`, the shared library
`model.so` and the packed weight blob `weights.bin`. The same program compiles
to the same bytes: entries sorted, fixed timestamps and permissions, no extra
fields, JSON with sorted keys, and a shared library without build id or paths.
`tensorc.runtime.load` reads it back with numpy and ctypes only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import tensorc
from tensorc.diagnostics import BackendError
from tensorc.program import Program, Signature
from tensorc.runtime import cpu_features
from tensorc.runtime.package import (
    ENTRY_ABI,
    FORMAT,
    FORMAT_VERSION,
    LIBRARY_FILE,
    MANIFEST_FILE,
    WEIGHTS_ALIGNMENT,
    WEIGHTS_FILE,
)
from tensorc.runtime.weights_blob import pack_weights

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold
_STORED = {WEIGHTS_FILE}  # raw floats do not deflate; stored, they load without inflating


@dataclass
class PackageInfo:
    """What `write_package` wrote: the path, the manifest, entry sizes and build times."""

    path: Path
    manifest: dict
    sizes: dict[str, int] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def _sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()


def _specs(specs) -> list[dict]:
    return [{"name": s.name, "shape": [int(d) for d in s.shape], "dtype": np.dtype(s.dtype).name} for s in specs]


def package_target(info):
    """The TargetInfo a package is built for, and the CPU features it requires.

    Features the loader cannot check are turned off (see runtime/cpu_features.py).
    """
    from tensorc.backends.llvm.codegen import TargetInfo

    features, required = cpu_features.package_target_features(info.features, info.triple)
    return TargetInfo(info.triple, info.cpu_name, features), required


def _check_threads(threads) -> None:
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise BackendError(f"threads must be a positive integer or None, not {threads!r}")


def build_entries(low: Program, signature: Signature, info, threads: int | None = None
                  ) -> tuple[dict[str, bytes], dict, dict[str, float]]:
    """The package's files (name → bytes), its manifest, and timings, from an llvm-dialect Program.
    `threads`: the compile-time thread count the Program was lowered with (None = one per
    online CPU at run time), recorded in the manifest."""
    from tensorc.backends.llvm import aot, codegen
    from tensorc.backends.llvm.parallel import SET_THREADS

    module = low.module
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    target, required = package_target(info)
    ir = codegen.to_llvm_ir(module, target)
    tm = codegen.target_machine(target, reloc="pic")
    mod = codegen.optimize(ir, tm)
    t1 = time.perf_counter()
    # the thread pool is linked in only if some kernel runs on threads (and threads != 1);
    # then its run-time setter is exported next to the entry point
    try:
        mod.get_function(SET_THREADS)
        set_threads = SET_THREADS
    except NameError:
        set_threads = None
    obj = aot.emit_object(mod, tm)
    t2 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tensorc-pkg-") as tmp:
        exports = (aot.ENTRY, SET_THREADS) if set_threads else (aot.ENTRY,)
        library = aot.link_shared(obj, Path(tmp, LIBRARY_FILE), exports).read_bytes()
    t3 = time.perf_counter()
    times.update(opt_s=t1 - t0, codegen_s=t2 - t1, link_s=t3 - t2)

    attrs = module.attributes
    layout = [(a.data[0].data, a.data[1].value.data, a.data[2].value.data) for a in attrs["cpu.weights"].data]
    weights_size = attrs["cpu.weights_size"].value.data
    blob = pack_weights(low.weights, layout, weights_size).tobytes()
    arena_size = attrs["cpu.arena_size"].value.data
    n_args = next(
        (len(op.function_type.inputs) for op in module.ops
         if getattr(op, "sym_name", None) is not None and op.sym_name.data == "main"),
        None,
    )
    expected = len(signature.inputs) + len(signature.outputs) + 2
    if n_args is not None and n_args != expected:
        raise BackendError(f"llvm-cpu: @main takes {n_args} buffers, the signature needs {expected}")

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tensorc_version": tensorc.__version__,
        "target": {
            "triple": target.triple,
            "cpu": target.cpu_name,
            "required_cpu_features": required,
            "llvm_features": target.features,
        },
        "entry": {"symbol": aot.ENTRY, "abi": ENTRY_ABI},
        "library": {"file": LIBRARY_FILE, "size": len(library), "sha256": _sha256(library)},
        "weights": {
            "file": WEIGHTS_FILE,
            "size": len(blob),
            "sha256": _sha256(blob),
            "alignment": WEIGHTS_ALIGNMENT,
            "tensors": [{"name": n, "offset": o, "nbytes": b} for n, o, b in layout],
        },
        "arena_size": arena_size,
        "threads": {"default": threads or 0, "set_symbol": set_threads},
        "inputs": _specs(signature.inputs),
        "outputs": _specs(signature.outputs),
    }
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    times["pack_s"] = time.perf_counter() - t3
    return {MANIFEST_FILE: text.encode(), LIBRARY_FILE: library, WEIGHTS_FILE: blob}, manifest, times


def write_zip(path, entries: dict[str, bytes]) -> None:
    """A deterministic zip: sorted entries, fixed time and mode, no extra fields, no comment."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tcpkg-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w") as zf:
            for name in sorted(entries):
                zi = zipfile.ZipInfo(name, date_time=ZIP_TIME)
                zi.create_system = 3  # unix, whatever the host
                zi.external_attr = 0o100644 << 16
                zi.compress_type = zipfile.ZIP_STORED if name in _STORED else zipfile.ZIP_DEFLATED
                zf.writestr(zi, entries[name], compresslevel=9)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_package(path, low: Program, signature: Signature, info, threads: int | None = None) -> PackageInfo:
    """Write the package of an llvm-dialect Program (the output of the llvm-cpu pipeline,
    lowered with `threads`: None = one per online CPU at run time)."""
    _check_threads(threads)
    entries, manifest, times = build_entries(low, signature, info, threads)
    t0 = time.perf_counter()
    write_zip(path, entries)
    times["write_s"] = time.perf_counter() - t0
    return PackageInfo(Path(path), manifest, {k: len(v) for k, v in entries.items()}, times)


def compile_package(prog: Program, path, cpu: str = "host", dump_dir=None, print_after_all: bool = False,
                    lut: bool = False, threads: int | None = None) -> PackageInfo:
    """Lower a tg Program with the llvm-cpu pipeline and write its package (no JIT).
    `lut`: low-bit matmuls through LUT mpGEMM (docs/lut.md §4). `threads`: the default thread
    count (None = one per online CPU of the running machine; 1 = no thread pool at all);
    `tensorc.runtime.load(path, threads=N)` overrides it at run time."""
    _check_threads(threads)
    from tensorc.backends.llvm import codegen
    from tensorc.backends.llvm.lower_tg import LoweringError
    from tensorc.pipeline import llvm_cpu_pipeline, run_passes

    t0 = time.perf_counter()
    try:
        info = codegen.host_target(cpu)
    except ValueError as e:
        raise BackendError(str(e)) from None
    try:
        spec = llvm_cpu_pipeline(threads=threads or 0, cpu=cpu, lut=lut)
        low = run_passes(prog.clone(), spec, dump_dir=dump_dir, print_after_all=print_after_all)
    except LoweringError as e:
        raise BackendError(f"llvm-cpu: {e}") from None
    lower_s = time.perf_counter() - t0
    result = write_package(path, low, prog.signature, info, threads)
    result.times = {"lower_s": lower_s, **result.times, "total_s": time.perf_counter() - t0}
    return result
