"""Choosing a package's thread count at load and run time: `tensorc.runtime.load(pkg, threads=N)`,
`Model.set_threads`, `tensorc compile/run --threads N` (docs/package.md, "Threads").

The count is checked where it shows: the threads of the process (/proc/self/task) after a
call, in a fresh process that cannot import the compiler; outputs are bit-identical for
every count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import onnx
import pytest

import tensorc
import tensorc.runtime as rt
from tcpkg_helpers import ALLOWED_TENSORC, BLOCKED, _CHILD, assert_compiler_free, edit_manifest
from tensorc.tools.cli import main
from tensorc.tools.models import small

# the fresh child: _CHILD's import blocker, then a script of load / set / call steps
_HEADER = _CHILD[: _CHILD.index("pkg, feeds_path")]
_STEPS = textwrap.dedent(
    r"""
    import os
    import numpy as np
    import tensorc.runtime

    pkg, feeds_path, out_path, steps = sys.argv[3], sys.argv[4], sys.argv[5], json.loads(sys.argv[6])
    with np.load(feeds_path) as f:
        feeds = {k: f[k] for k in f.files}
    tasks = lambda: len(os.listdir("/proc/self/task"))
    report = {"base": tasks(), "after": []}
    outputs, model = {}, None
    for i, (what, arg) in enumerate(steps):
        if what == "load":
            model = tensorc.runtime.load(pkg, threads=arg)
        elif what == "set":
            model.set_threads(arg)
        else:
            for k, v in model(**feeds).items():
                outputs[f"{i}:{k}"] = v
            report["after"].append(tasks())
    np.savez(out_path, **outputs)
    report["modules"] = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED | {"tensorc"})
    print("REPORT " + json.dumps(report))
    """
)


def run_steps(pkg, feeds, tmp_path, steps):
    """Run `steps` ([("load", threads) | ("set", threads) | ("call", None)]) in a fresh process:
    (outputs of each call, in order, report with the thread count of the process after each call)."""
    feeds_path, out_path = tmp_path / "feeds.npz", tmp_path / "outputs.npz"
    np.savez(feeds_path, **feeds)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", _HEADER + _STEPS, json.dumps(BLOCKED), json.dumps(ALLOWED_TENSORC), str(pkg),
         str(feeds_path), str(out_path), json.dumps(steps)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith("REPORT "))[len("REPORT "):])
    assert_compiler_free(report["modules"])
    with np.load(out_path) as f:
        calls = sorted({int(k.split(":")[0]) for k in f.files})
        outs = [{k.split(":", 1)[1]: f[k] for k in f.files if int(k.split(":")[0]) == i} for i in calls]
    return outs, report


@pytest.fixture(scope="module")
def mlp_prog():
    return tensorc.import_onnx(small.mlp(4))  # two 2-Mflop gemms: both run on the pool


@pytest.fixture(scope="module")
def packages(mlp_prog, tmp_path_factory):
    """Packages of the MLP compiled with threads None (default), 1 and 2."""
    from tensorc.package import compile_package

    d = tmp_path_factory.mktemp("threads")
    out = {None: d / "default.tcpkg", 1: d / "one.tcpkg"}
    for t in (None, 1):
        compile_package(mlp_prog, out[t], threads=t)
    out[2] = d / "two.tcpkg"
    tensorc.compile(mlp_prog, target="llvm-cpu", threads=2).save(out[2])  # the JIT's save() records it too
    return out


@pytest.fixture(scope="module")
def feeds():
    return {"x": np.random.default_rng(5).standard_normal((4, 256)).astype(np.float32)}


def _oracle(prog, feeds):
    return tensorc.compile(prog, target="reference")(**feeds)["y"]


def test_manifest_records_the_setting(packages):
    m = {t: rt.package.read_manifest(p) for t, p in packages.items()}
    assert m[None]["threads"] == {"default": 0, "set_symbol": "tc_set_threads"}
    assert m[2]["threads"] == {"default": 2, "set_symbol": "tc_set_threads"}
    assert m[1]["threads"] == {"default": 1, "set_symbol": None}  # no thread pool linked in


def test_threads_set_at_load_and_run_time(packages, mlp_prog, feeds, tmp_path):
    """One process: 1 thread starts no worker; 2 and 3 start one and two; outputs identical."""
    steps = [("load", 1), ("call", None), ("set", 2), ("call", None), ("set", 3), ("call", None),
             ("set", 1), ("call", None), ("set", None), ("call", None)]
    outs, report = run_steps(packages[None], feeds, tmp_path, steps)
    base, after = report["base"], report["after"]
    assert after[:4] == [base, base + 1, base + 2, base + 2], report  # workers are kept once started
    assert after[4] >= base + min(2, os.cpu_count() - 1), report      # None: one per online CPU
    for o in outs[1:]:
        np.testing.assert_array_equal(o["y"], outs[0]["y"])
    np.testing.assert_allclose(outs[0]["y"], _oracle(mlp_prog, feeds), rtol=1e-4, atol=1e-5)


def test_compile_time_default_and_its_override(packages, feeds, tmp_path):
    """Compiled with threads=2: two threads unless told otherwise at load."""
    outs, report = run_steps(packages[2], feeds, tmp_path, [("load", None), ("call", None)])
    assert report["after"] == [report["base"] + 1]
    outs1, report1 = run_steps(packages[2], feeds, tmp_path, [("load", 1), ("call", None)])
    assert report1["after"] == [report1["base"]]
    np.testing.assert_array_equal(outs1[0]["y"], outs[0]["y"])


def test_compiled_single_threaded(packages, feeds, tmp_path):
    """--threads 1 links no pool: threads=1 (or None) runs, more is refused with one line."""
    outs, report = run_steps(packages[1], feeds, tmp_path, [("load", None), ("call", None), ("set", 1), ("call", None)])
    assert report["after"] == [report["base"]] * 2
    with pytest.raises(rt.PackageError, match=r"one\.tcpkg: compiled with --threads 1 .*cannot run on 2 threads"):
        rt.load(packages[1], threads=2)
    model = rt.load(packages[1])
    with pytest.raises(rt.PackageError, match="--threads 1"):
        model.set_threads(4)
    np.testing.assert_array_equal(model(**feeds)["y"], outs[0]["y"])


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_bad_thread_counts(packages, bad):
    with pytest.raises(rt.PackageError, match=r"default\.tcpkg: threads must be a positive integer or None"):
        rt.load(packages[None], threads=bad)
    model = rt.load(packages[None])
    with pytest.raises(rt.PackageError, match="threads must be"):
        model.set_threads(bad)


def test_package_without_a_thread_setting(packages, tmp_path):
    """A package written before the option: runs as compiled; asking for a count is refused."""
    old = edit_manifest(packages[None], tmp_path / "old.tcpkg", lambda m: m.pop("threads"))
    assert rt.load(old).threads is None
    with pytest.raises(rt.PackageError, match="cannot change its thread count at run time; recompile"):
        rt.load(old, threads=2)


def _deep_model(layers=12, n=96):
    """x → (MatMul 96x96 → Tanh) × 12: 12 kernels on the pool per call (many pool jobs)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    nodes, inits, h = [], [], "x"
    for i in range(layers):
        inits.append(numpy_helper.from_array((rng.standard_normal((n, n)) / 10).astype(np.float32), f"w{i}"))
        nodes += [helper.make_node("MatMul", [h, f"w{i}"], [f"m{i}"]), helper.make_node("Tanh", [f"m{i}"], [f"t{i}"])]
        h = f"t{i}"
    nodes.append(helper.make_node("Identity", [h], ["y"]))
    vi = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, [n, n])  # noqa: E731
    graph = helper.make_graph(nodes, "deep", [vi("x")], [vi("y")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_models_of_one_package_on_two_python_threads(tmp_path):
    """Two Models of one package share its library, hence its pool: run concurrently (with
    different counts), every output is right and nothing hangs (a caller that finds the pool
    busy runs its job alone). Before the pool took one job at a time this hung or gave wrong
    outputs within a few thousand calls."""
    prog = tensorc.import_onnx(_deep_model())
    pkg = tmp_path / "deep.tcpkg"
    tensorc.compile(prog, target="llvm-cpu").save(pkg)
    a, b = rt.load(pkg, threads=2), rt.load(pkg, threads=1)
    rng = np.random.default_rng(9)
    xs = [rng.standard_normal((96, 96)).astype(np.float32) for _ in range(2)]
    refs = [a(x=x)["y"] for x in xs]
    bad = []

    def work(model, x, ref):
        for _ in range(1000):
            if not np.array_equal(model(x=x)["y"], ref):
                bad.append(1)

    ts = [threading.Thread(target=work, args=(m, x, r), daemon=True) for m, x, r in zip((a, b), xs, refs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in ts), "a call hung"
    assert not bad, f"{len(bad)} wrong outputs"
    np.testing.assert_allclose(refs[0], _oracle(prog, {"x": xs[0]}), rtol=1e-4, atol=1e-5)


def test_inspect_shows_threads(packages, capsys):
    assert main(["inspect", str(packages[None])]) == 0
    assert "threads   one per online CPU by default; settable at load" in capsys.readouterr().out
    assert main(["inspect", str(packages[1])]) == 0
    assert "threads   1 by default; no thread pool (compiled with --threads 1)" in capsys.readouterr().out


def test_cli_threads(tmp_path, capsys):
    model = tmp_path / "mlp.onnx"
    onnx.save(small.mlp(4), model)
    x = np.random.default_rng(1).standard_normal((4, 256)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)

    pkg1 = tmp_path / "one.tcpkg"
    assert main(["compile", str(model), "--threads", "1", "-o", str(pkg1)]) == 0
    assert rt.package.read_manifest(pkg1)["threads"]["default"] == 1
    pkg = tmp_path / "m.tcpkg"
    assert main(["compile", str(model), "-o", str(pkg)]) == 0
    capsys.readouterr()

    ys = []
    for n in ("1", "2"):
        out = tmp_path / f"out{n}"
        assert main(["run", str(pkg), "--threads", n, "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", str(out)]) == 0
        ys.append(np.load(out / "y.npy"))
    out = tmp_path / "jit"
    assert main(["run", str(model), "--target", "llvm-cpu", "--threads", "2", "--input", f"x={tmp_path / 'x.npy'}",
                 "--output-dir", str(out)]) == 0
    ys.append(np.load(out / "y.npy"))
    capsys.readouterr()
    np.testing.assert_array_equal(ys[0], ys[1])
    np.testing.assert_array_equal(ys[0], ys[2])

    def err(argv):
        assert main(argv) == 1
        e = capsys.readouterr().err
        assert e.startswith("error: ") and e.count("\n") == 1, e
        return e

    assert "compiled with --threads 1" in err(["run", str(pkg1), "--threads", "2", "--input", f"x={tmp_path / 'x.npy'}"])
    assert "--threads applies to --target llvm-cpu" in err(["run", str(model), "--threads", "2",
                                                            "--input", f"x={tmp_path / 'x.npy'}"])
    assert "--threads does not apply to --target ltc" in err(["compile", str(model), "--target", "ltc",
                                                              "--threads", "2"])
    for argv in (["run", str(pkg), "--threads", "0"], ["compile", str(model), "--threads", "x"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        assert "expected a positive number of threads" in capsys.readouterr().err


def test_threads_in_a_fresh_cli_process(packages, feeds, tmp_path):
    """`tensorc run model.tcpkg --threads 2` needs no compiler either."""
    from tcpkg_helpers import run_fresh

    np.save(tmp_path / "x.npy", feeds["x"])
    _, report = run_fresh(packages[None], feeds, tmp_path, cli_args=[
        "run", str(packages[None]), "--threads", "2", "--input", f"x={tmp_path / 'x.npy'}",
        "--output-dir", str(tmp_path / "cli")])
    assert report["cli_rc"] == 0
    assert_compiler_free(report["cli_modules"])
    ref = rt.load(packages[None], threads=1)(**feeds)["y"]
    np.testing.assert_array_equal(np.load(tmp_path / "cli" / "y.npy"), ref)
