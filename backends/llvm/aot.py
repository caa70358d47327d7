"""Ahead-of-time code: an object file from LLVM, a shared library from the system linker.

The object comes from a target machine created with `reloc="pic"` (see
`codegen.target_machine`), so it links with `cc -shared`. Builds are
deterministic: no build id, a fixed soname, only `tc_entry` (and, when the thread pool is
linked in, `tc_set_threads`) exported, and nothing from the build directory or the clock
ends up in the library.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tensorc.diagnostics import BackendError

COMPILERS = ("cc", "gcc", "clang")
SONAME = "model.so"
ENTRY = "tc_entry"

_MISSING = (
    "no C compiler/linker found (looked for {names} on PATH): install gcc "
    "(Debian/Ubuntu: apt-get install gcc; Fedora: dnf install gcc) or point CC at one"
)


def emit_object(llvm_module_ref, tm) -> bytes:
    """The ELF object of an (optimized) llvmlite module for target machine `tm` (reloc='pic')."""
    return bytes(tm.emit_object(llvm_module_ref))


def find_linker() -> str:
    """Path of the C compiler driver used to link: $CC if set, else cc, gcc or clang on PATH."""
    cc = os.environ.get("CC")
    if cc:
        found = shutil.which(cc)
        if found is None:
            raise BackendError(f"CC={cc} is not an executable on PATH; unset CC or install it")
        return found
    for name in COMPILERS:
        found = shutil.which(name)
        if found:
            return found
    raise BackendError(_MISSING.format(names=", ".join(COMPILERS)))


def link_shared(obj: bytes, out: Path, exports=(ENTRY,)) -> Path:
    """Link object bytes into the shared library `out`, exporting only the symbols `exports`
    (each must be defined in the object)."""
    cc = find_linker()
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="tensorc-link-") as tmp:
        obj_path = Path(tmp, "model.o")
        obj_path.write_bytes(obj)
        version_script = Path(tmp, "exports.map")
        version_script.write_text(f"{{ global: {' '.join(f'{name};' for name in exports)} local: *; }};\n")
        tmp_out = Path(tmp, SONAME)
        cmd = [
            cc, "-shared", "-fPIC", "-o", str(tmp_out), str(obj_path),
            f"-Wl,-soname,{SONAME}", "-Wl,--build-id=none", f"-Wl,--version-script={version_script}",
            "-Wl,-z,noexecstack", "-Wl,-z,relro", "-Wl,-z,now", "-Wl,--hash-style=gnu",
            "-Wl,--as-needed", "-lm",
        ]
        env = {**os.environ, "LC_ALL": "C", "SOURCE_DATE_EPOCH": "0"}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp)
        except OSError as e:
            raise BackendError(f"cannot run the linker {cc}: {e.strerror or e}") from None
        if proc.returncode != 0:
            detail = next((l.strip() for l in proc.stderr.splitlines() if l.strip()), f"exit status {proc.returncode}")
            if "cannot find" in proc.stderr or "not found" in proc.stderr:
                detail += " (is the C library's development package installed? e.g. apt-get install libc6-dev)"
            raise BackendError(f"linking the shared library with {os.path.basename(cc)} failed: {detail}")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_out, out)
    return out
