"""Example LUT Tensor Core programs from the command line: a random quantized linear layer.

    python -m tensorc.ltc.examples linear --m 64 --k 4096 --n 4096 --bits 2 -o gemm.ltc \
        [--group 128] [--act-group 64] [--form half] [--table-type i16] [--ternary] [--epilogue array|vector] \
        [--save-input x.npy --save-expected y.npy]
    tensorc sim gemm.ltc --input x=x.npy --output-dir out     # out/y.npy equals y.npy bit for bit

The weights are random codes with random group scales and integer zero points (seed 0); the
expected output is tensorc.quant.lut's direct integer dot product (i16 tables) or lut.mpgemm
(other table types).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from tensorc.quant import lut as L
from tensorc.runtime.ltc.errors import LTCError

from .builder import ProgramBuilder
from .kernels import emit_lut_linear


def linear(args) -> int:
    rng = np.random.default_rng(args.seed)
    n, k, m, bits, g = args.n, args.k, args.m, args.bits, args.group
    top = 3 if args.ternary else 1 << bits
    codes = rng.integers(0, top, (n, k)).astype(np.uint8)
    scales = rng.uniform(0.005, 0.05, (n, k // g)).astype(np.float32)
    zeros = (np.ones((n, k // g)) if args.ternary else rng.integers(0, top, (n, k // g))).astype(np.float32)
    adt = "i8" if args.table_type in ("i16", "i8") else "f32"
    b = ProgramBuilder()
    x = b.input("x", (m, k), adt)
    y = b.output("y", (m, n), "f32")
    til = emit_lut_linear(b, x=x, y=y, codes=codes, scales=scales, zeros=zeros, bits=bits, group=g,
                          act_group=args.act_group, form=args.form, table_type=args.table_type,
                          epilogue=args.epilogue)
    prog = b.build({"example": "linear", "m": m, "k": k, "n": n, "bits": bits, "ternary": args.ternary,
                    "group": g, "act_group": args.act_group, "form": args.form, "table_type": args.table_type,
                    "epilogue": args.epilogue})
    prog.save(args.output)
    print(f"wrote {args.output}: {len(prog.instrs)} instructions, tiles M{til.m_chunk} N{til.n_chunk} K{til.k_chunk}")
    if args.save_input or args.save_expected:
        xv = (rng.integers(-128, 128, (m, k)).astype(np.int8) if adt == "i8"
              else rng.standard_normal((m, k)).astype(np.float32))
        if args.save_input:
            np.save(args.save_input, xv)
        if args.save_expected:
            if args.table_type == "i16":
                ref = L.direct_integer_dot(xv, codes, scales, zeros, group=g, act_group=args.act_group)
            else:
                tt = "f32" if args.table_type == "f16" else args.table_type
                tables, ts = L.precompute(xv, k, args.form, tt, args.act_group)
                ref = L.mpgemm(tables, ts, L.planes_from_codes(codes, bits, args.form), scales, zeros, k=k, n=n,
                               bits=bits, group=g, act_group=args.act_group, form=args.form)
            np.save(args.save_expected, ref)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tensorc.ltc.examples")
    sub = p.add_subparsers(dest="what", required=True)
    q = sub.add_parser("linear", help="a random quantized linear layer y = x · Wᵀ")
    q.add_argument("--m", type=int, default=1)
    q.add_argument("--k", type=int, default=4096)
    q.add_argument("--n", type=int, default=4096)
    q.add_argument("--bits", type=int, default=2)
    q.add_argument("--ternary", action="store_true")
    q.add_argument("--group", type=int, default=128)
    q.add_argument("--act-group", type=int, default=64)
    q.add_argument("--form", default="half", choices=["unsigned", "signed", "half"])
    q.add_argument("--table-type", default="i16", choices=["i16", "i8", "f16"])
    q.add_argument("--epilogue", default="array", choices=["array", "vector"],
                   help="dequantizing epilogue: in the arrays (lmma.dq) or on the vector unit (lmma + vdq)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("-o", "--output", required=True)
    q.add_argument("--save-input")
    q.add_argument("--save-expected")
    args = p.parse_args(argv)
    if args.ternary:
        args.bits = 2
    try:
        return linear(args)
    except (LTCError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
