"""`make demo`: the main job on the bundled example model.

Imports a small transformer block from ONNX, runs the cleanup pipeline with
pass-by-pass IR dumps, executes it on the reference interpreter and checks the
outputs against onnxruntime.
"""

from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path

import numpy as np

DEFAULT_MODEL = "tiny_transformer.onnx"


def example_path(name: str = DEFAULT_MODEL) -> Path:
    return Path(str(resources.files("tensorc.tools") / "examples" / name))


def run(model: str | None = None, out_dir: str = "out/demo-ir", target: str = "reference") -> int:
    import tensorc
    from tensorc.pipeline import NAMED_PIPELINES

    path = Path(model) if model else example_path()
    print(f"model      {path}")
    t0 = time.perf_counter()
    prog = tensorc.import_onnx(path)
    n_ops = len(list(prog.main.body.block.ops))
    print(f"imported   {n_ops} ops, {len(prog.weights)} weights ({prog.weights.nbytes() / 1e3:.0f} kB) in {time.perf_counter() - t0:.2f} s")
    for spec in prog.signature.inputs:
        print(f"  input    {spec.describe()}")
    prog = tensorc.lower(prog, "cleanup", dump_dir=out_dir)
    dumps = sorted(Path(out_dir).glob("*.mlir"))
    print(f"pipeline   cleanup = {NAMED_PIPELINES['cleanup']}")
    print(f"IR dumps   {out_dir}/ ({', '.join(d.name for d in dumps)})")
    print(f"           {len(list(prog.main.body.block.ops))} ops after cleanup")

    rng = np.random.default_rng(0)
    feeds = {s.name: rng.standard_normal(s.shape).astype(s.dtype) for s in prog.signature.inputs}
    exe = tensorc.compile(prog, target=target)
    t0 = time.perf_counter()
    outs = exe(**feeds)
    print(f"ran        target {target} in {(time.perf_counter() - t0) * 1e3:.1f} ms")

    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    ok = True
    for name, value in outs.items():
        err = float(np.max(np.abs(value - ref[name]) / (np.abs(ref[name]) + 1e-3)))
        good = np.allclose(value, ref[name], rtol=1e-4, atol=1e-5)
        ok &= good
        print(f"output     {name} {list(value.shape)}: max rel. difference to onnxruntime {err:.1e} -> {'match' if good else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run(*sys.argv[1:2]))
