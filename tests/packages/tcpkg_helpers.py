"""Helpers for package tests: re-zipping edited packages, and running a package in a
fresh process in which the compiler's dependencies cannot be imported.

`check_package(model, feeds, tmp_path, ...)` is the whole round trip for one model
(JIT vs package in a compiler-free process vs an optional oracle); the big-model
tests (resnet18, MiniLM) call it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np

# Imports that must fail in the fresh process. tensorc itself may only provide its
# package __init__ (which imports the dependency-free tensorc.diagnostics) and the runtime.
BLOCKED = ("xdsl", "onnx", "onnxruntime", "llvmlite", "torch", "ml_dtypes", "pulp", "networkx")
ALLOWED_TENSORC = ("tensorc", "tensorc.diagnostics")

_CHILD = textwrap.dedent(
    r"""
    import importlib.abc, json, sys

    BLOCKED = set(json.loads(sys.argv[1]))
    ALLOWED = set(json.loads(sys.argv[2]))
    state = {"cli": False}

    def allowed_tensorc(name):
        if name in ALLOWED or name == "tensorc.runtime" or name.startswith("tensorc.runtime."):
            return True
        return state["cli"] and name in ("tensorc.tools", "tensorc.tools.cli")

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            top = name.partition(".")[0]
            if top in BLOCKED or (top == "tensorc" and not allowed_tensorc(name)):
                raise ImportError(f"blocked in this test: {name}")
            return None

    sys.meta_path.insert(0, Blocker())
    for mod in BLOCKED:
        try:
            __import__(mod)
        except ImportError:
            pass
        else:
            raise SystemExit(f"the blocker let {mod} be imported")

    pkg, feeds_path, out_path, cli_args = sys.argv[3], sys.argv[4], sys.argv[5], json.loads(sys.argv[6])
    import numpy as np
    import tensorc.runtime

    model = tensorc.runtime.load(pkg)
    with np.load(feeds_path) as f:
        feeds = {k: f[k] for k in f.files}
    outputs = model(**feeds)
    np.savez(out_path, **outputs)
    report = {"modules": sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED | {"tensorc"})}
    if cli_args:
        state["cli"] = True
        from tensorc.tools.cli import main

        report["cli_rc"] = main(cli_args)
        report["cli_modules"] = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED | {"tensorc"})
    print("REPORT " + json.dumps(report))
    """
)


def run_fresh(pkg, feeds: dict[str, np.ndarray], tmp_path: Path, cli_args=None, timeout=300):
    """Load and run `pkg` in a new Python in which xdsl, onnx, llvmlite... cannot be imported.

    Returns (outputs, report): the outputs by name, and the modules the child had
    imported ('modules'; with cli_args also 'cli_rc' and 'cli_modules', after running
    `tensorc.tools.cli.main(cli_args)` there too).
    """
    feeds_path, out_path = tmp_path / "fresh_feeds.npz", tmp_path / "fresh_outputs.npz"
    np.savez(feeds_path, **feeds)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(BLOCKED), json.dumps(ALLOWED_TENSORC), str(pkg),
         str(feeds_path), str(out_path), json.dumps(cli_args or [])],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("REPORT "))
    report = json.loads(line[len("REPORT "):])
    report["stdout"] = proc.stdout
    with np.load(out_path) as f:
        outputs = {k: f[k] for k in f.files}
    return outputs, report


def assert_compiler_free(modules) -> None:
    tensorc_mods = {m for m in modules if m.partition(".")[0] == "tensorc"}
    bad = sorted(m for m in modules if m.partition(".")[0] in BLOCKED)
    bad += sorted(m for m in tensorc_mods if m not in ALLOWED_TENSORC and not m.startswith("tensorc.runtime")
                  and m not in ("tensorc.tools", "tensorc.tools.cli"))
    assert not bad, f"imported: {bad}"


def read_entries(pkg) -> dict[str, bytes]:
    with zipfile.ZipFile(pkg) as z:
        return {n: z.read(n) for n in z.namelist()}


def rezip(src, dst, edit) -> Path:
    """A copy of package `src` at `dst` after `edit(entries)` changed its files in place."""
    from tensorc.package import write_zip

    entries = read_entries(src)
    edit(entries)
    write_zip(dst, entries)
    return Path(dst)


def edit_manifest(src, dst, edit) -> Path:
    """A copy of package `src` at `dst` whose manifest `edit(manifest)` changed."""

    def _edit(entries):
        manifest = json.loads(entries["manifest.json"])
        edit(manifest)
        entries["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()

    return rezip(src, dst, _edit)


def random_feeds(signature_inputs, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for s in signature_inputs:
        dt = np.dtype(s.dtype)
        if dt.kind == "f":
            feeds[s.name] = rng.standard_normal(s.shape).astype(dt)
        elif dt.kind in "iu":
            feeds[s.name] = rng.integers(0, 2, s.shape).astype(dt)
        else:
            feeds[s.name] = rng.integers(0, 2, s.shape).astype(dt)
    return feeds


def check_package(model, feeds, tmp_path: Path, *, input_shapes=None, oracle=None, rtol=1e-4, atol=1e-5,
                  rebuild=False, name="model"):
    """Compile `model` (ONNX path/bytes/proto or tg Program) with the JIT, save its package,
    run that in a fresh compiler-free process, and compare: package == JIT (tightly) and
    package ≈ `oracle` (dict of outputs, e.g. onnxruntime's) to rtol/atol. With `rebuild`,
    also check a second build is byte-identical. Returns (package path, outputs, timings).
    """
    import time

    import tensorc
    from tensorc.package import compile_package

    prog = model if hasattr(model, "signature") else tensorc.import_onnx(model, input_shapes=input_shapes)
    t0 = time.perf_counter()
    exe = tensorc.compile(prog, target="llvm-cpu")
    t1 = time.perf_counter()
    pkg = tmp_path / f"{name}.tcpkg"
    info = exe.save(pkg)
    t2 = time.perf_counter()
    jit = exe(**feeds)
    got, report = run_fresh(pkg, feeds, tmp_path)
    t3 = time.perf_counter()
    assert_compiler_free(report["modules"])
    assert list(got) == [s.name for s in prog.signature.outputs]
    for k in jit:
        np.testing.assert_allclose(got[k], jit[k], rtol=1e-5, atol=1e-6, err_msg=f"package vs JIT: {k}")
    if oracle is not None:
        for k, ref in oracle.items():
            np.testing.assert_allclose(got[k], ref, rtol=rtol, atol=atol, err_msg=f"package vs oracle: {k}")
    if rebuild:
        again = compile_package(prog, tmp_path / f"{name}-again.tcpkg")
        assert again.path.read_bytes() == pkg.read_bytes(), "rebuild is not byte-identical"
    times = {"jit_s": t1 - t0, "save_s": t2 - t1, "fresh_run_s": t3 - t2, "size": pkg.stat().st_size,
             **{f"pkg_{k}": v for k, v in info.times.items()}}
    return pkg, got, times
