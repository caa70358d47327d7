"""MiniLM on the simulated LUT Tensor Core against llvm-cpu: the measurements behind docs/ltc.md §10.4.

    .venv/bin/python tests/ltc/minilm_numerics.py [--seq 8] [--sentences 8]

For each sentence (SENTENCES[i], truncated or zero-padded to --seq tokens), 1 − cosine and
max |Δ| of the sentence embedding between:
  ltc ~ cpu+lut   the w2g128 model on the simulator vs llvm-cpu with lut=True (the same LUT lowering)
  cpu+lut ~ cpu   llvm-cpu with and without lut=True: the int8 tables' own error
  f32 ltc ~ cpu   the unquantized model on both targets: the vector unit's numerics alone
and, for the lut program on the reference interpreter, what ±1 ulp of noise on every output of one
op kind (random sign per element) does to the embedding: the model's sensitivity to the last bit
of a vector op, which int8 table rounding turns into whole table steps.
Not a test (tests/ltc/test_ltc_backend_models.py checks the tolerances); about two minutes.
"""

from __future__ import annotations

import argparse

import numpy as np
from xdsl.dialects import func

import tensorc
from tensorc.backends.ltc import prepare_program
from tensorc.backends.reference import run_function
from tensorc.backends.reference.interpreter import evaluate_op
from tensorc.tools.models.minilm import SENTENCES, minilm_onnx_cached, tokenize

NOISY = ("tg.layer_normalization", "tg.gelu", "tg.softmax", "tg.matmul")


def deficit(a, b) -> float:
    return float(1 - (a * b).sum() / np.linalg.norm(a) / np.linalg.norm(b))


def feeds(i: int, seq: int) -> dict:
    ids, mask = tokenize(SENTENCES[i:i + 1])
    ids = np.asarray(ids, np.int64)[:, :seq]
    mask = np.asarray(mask, np.int64)[:, :seq]
    pad = ((0, 0), (0, seq - ids.shape[1]))
    return {"input_ids": np.pad(ids, pad), "attention_mask": np.pad(mask, pad)}


def run_with_noise(core, args, kind, rng):
    """The reference interpreter on `core`, every f32 output of `kind` ops moved by ±1 ulp."""
    env = dict(zip(core.main.body.block.args, args))
    for op in core.main.body.block.ops:
        if isinstance(op, func.ReturnOp):
            return env[op.operands[0]]
        outs = evaluate_op(op, [env[v] for v in op.operands], core.weights)
        if op.name == kind and outs[0].dtype == np.float32:
            up = rng.integers(0, 2, outs[0].shape).astype(bool)
            outs = [np.where(up, np.nextafter(outs[0], np.float32(np.inf)),
                             np.nextafter(outs[0], np.float32(-np.inf))).astype(np.float32), *outs[1:]]
        for r, v in zip(op.results, outs):
            env[r] = v
    raise AssertionError("no return")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", type=int, default=8)
    ap.add_argument("--sentences", type=int, default=8)
    args = ap.parse_args()
    path = str(minilm_onnx_cached(batch=None, seq=None))
    shapes = {"input_ids": (1, args.seq), "attention_mask": (1, args.seq)}
    q = tensorc.import_onnx(path, input_shapes=shapes, quantize_weights="w2g128")
    f = tensorc.import_onnx(path, input_shapes=shapes)
    ltc, cpu_lut, cpu = (tensorc.compile(q, target="ltc", time_limit=5), tensorc.compile(q, target="llvm-cpu", lut=True),
                         tensorc.compile(q, target="llvm-cpu"))
    ltc_f, cpu_f = tensorc.compile(f, target="ltc", time_limit=5), tensorc.compile(f, target="llvm-cpu")
    core, host, _ = prepare_program(q)
    rng = np.random.default_rng(1)
    print(f"seq {args.seq}: 1 − cosine / max |Δ| of the embedding")
    print("| sentence | ltc ~ cpu+lut | cpu+lut ~ cpu | f32 ltc ~ cpu | ±1 ulp on " + " / ".join(k[3:] for k in NOISY) + " |")
    print("|---|---|---|---|---|")
    for i in range(args.sentences):
        fd = feeds(i, args.seq)
        a, b, c = (e(**fd)["embedding"] for e in (ltc, cpu_lut, cpu))
        fa, fb = ltc_f(**fd)["embedding"], cpu_f(**fd)["embedding"]
        hv = run_function(host.main, [fd["input_ids"], fd["attention_mask"]], host.weights)
        base = run_function(core.main, hv, core.weights)[0]
        noise = [deficit(base, run_with_noise(core, hv, k, rng)) for k in NOISY]
        print(f"| {i} | {deficit(a, b):.1e} / {np.abs(a - b).max():.1e} | {deficit(b, c):.1e} / {np.abs(b - c).max():.1e} "
              f"| {deficit(fa, fb):.1e} / {np.abs(fa - fb).max():.1e} | " + " / ".join(f"{x:.1e}" for x in noise) + " |",
              flush=True)


if __name__ == "__main__":
    main()
