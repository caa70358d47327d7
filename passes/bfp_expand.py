"""bfp-expand: rewrite bfp.quantize / bfp.dequantize into plain tg arithmetic (same bits).

Backends without bfp kernels (llvm-cpu today) compile the expansion. It
reproduces tensorc.quant's numerics exactly with ops every backend has:

    blocks   = reshape(x, [..., nblocks, n, ...])             (tg.pad first if n does not divide)
    amax     = reduce_max(abs(blocks)) over the block
    2^floor(log2 amax):  P = cast(cast(amax -> f8E8M0FNU) -> f32)   (ONNX Cast-24 rounds up: P = 2^ceil)
                         P = where(P > amax, P / 2, P); P = max(P, 2^-127)
    int elements:  q = P * 2^-(wl-2); m = clip(round(x / q), +-(2^(wl-1)-1)); y = m * q  (m = 0 -> +0)
    fp elements:   X = max(P * 2^-emax, 2^-127); v = x / X; e-step from the same cast trick on |v|,
                   r = round(|v| / step) * step, min(r, max_norm), sign from 1/x (keeps -0); y = v̂ * X
    NaN blocks:    y = where(is_nan(reduce_sum(x * 0) over the block), |0/0|, y)

Every multiplication and division is by a power of two and exact, so the result
is bit-identical to the reference kernel (tests/bfp). `round` is tg.round
(half to even); rna uses sign(v) * floor(|v| + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import builtin as B
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from tensorc.diagnostics import PassError
from tensorc.dialects import dtypes
from tensorc.dialects.tg import OPS, ConstantOp
from tensorc.quant.formats import Format


class _Builder:
    def __init__(self, before: Operation, src: str | None):
        self.before = before
        self.src = src
        self._consts: dict[float, SSAValue] = {}

    def _insert(self, op: Operation) -> SSAValue:
        Rewriter.insert_op(op, InsertPoint.before(self.before))
        return op.results[0]

    def const(self, v: float) -> SSAValue:
        key = float(np.float32(v)).hex() if v == v else "nan"
        if key not in self._consts:
            self._consts[key] = self._insert(ConstantOp.from_array(np.array(v, np.float32)))
        return self._consts[key]

    def op(self, name: str, *operands, attrs=None, result_type=None) -> SSAValue:
        ops = [o if isinstance(o, SSAValue) else self.const(o) for o in operands]
        rt = [result_type] if result_type is not None else None
        return self._insert(OPS[name].make(ops, attrs or {}, result_types=rt, src=self.src))

    def cast(self, x: SSAValue, elem) -> SSAValue:
        t = x.type
        return self.op("cast", x, result_type=B.TensorType(elem, t.get_shape()))

    def pow2_floor(self, a: SSAValue) -> SSAValue:
        """2^floor(log2 a) for finite a > 0; 2^-127 for smaller a (and 0); NaN for inf/NaN."""
        p = self.cast(self.cast(a, B.Float8E8M0FNUType()), B.f32)
        half = self.op("mul", p, 0.5)
        p = self.op("where", self.op("greater", p, a), half, p)
        return self.op("max", p, 2.0**-127)

    def rnd(self, v: SSAValue, rounding: str) -> SSAValue:
        if rounding == "rne":
            return self.op("round", v)
        return self.op("mul", self.op("sign", v), self.op("floor", self.op("add", self.op("abs", v), 0.5)))


def expand_quantize(q: Operation, fmt: Format, axis: int) -> SSAValue:
    """tg ops computing bfp.quantize `q` (inserted before it); returns the plain f32 result."""
    x = q.operands[0]
    shape = list(dtypes.shape_of(x.type))
    n = fmt.block
    src = q.attributes.get("src")
    b = _Builder(q, src.data if src is not None else None)
    L = shape[axis]
    nb = -(-L // n)
    xp = x
    if nb * n != L:
        pads = [0] * (2 * len(shape))
        pads[len(shape) + axis] = nb * n - L
        xp = b.op("pad", x, attrs={"pads": pads})
    blocked = shape[:axis] + [nb, n] + shape[axis + 1:]
    xr = b.op("reshape", xp, attrs={"shape": blocked})
    ba = axis + 1
    amax = b.op("reduce_max", b.op("abs", xr), attrs={"axes": [ba], "keepdims": 1})
    nanb = b.op("reduce_sum", b.op("mul", xr, 0.0), attrs={"axes": [ba], "keepdims": 1})
    P = b.pow2_floor(amax)
    if fmt.kind == "int":
        step = b.op("mul", P, 2.0 ** -(fmt.mantissa_bits - 2))
        m = b.rnd(b.op("div", xr, step), fmt.rounding)
        m = b.op("min", b.op("max", m, -float(fmt.mmax)), float(fmt.mmax))
        y = b.op("mul", m, step)
        y = b.op("where", b.op("equal", m, 0.0), 0.0, y)
    else:
        el = fmt.elem
        X = b.op("max", b.op("mul", P, 2.0 ** -el.emax), 2.0**-127)
        v = b.op("div", xr, X)
        av = b.op("abs", v)
        pe = b.op("max", b.pow2_floor(av), 2.0**el.emin)
        step = b.op("mul", pe, 2.0 ** -el.man_bits)
        r = b.rnd(b.op("div", av, step), fmt.rounding)
        vq = b.op("min", b.op("mul", r, step), el.max_norm)
        negative = b.op("less", b.op("div", 1.0, xr), 0.0)
        y = b.op("mul", b.op("where", negative, b.op("neg", vq), vq), X)
    # a block holding NaN/inf: every element is the quiet NaN 0x7FC00000 (|0/0| has that bit pattern
    # on every IEEE machine; a literal NaN constant would not survive printing as dense<...>)
    qnan = b.op("abs", b.op("div", 0.0, 0.0))
    y = b.op("where", b.op("is_nan", nanb), qnan, y)
    y = b.op("reshape", y, attrs={"shape": shape[:axis] + [nb * n] + shape[axis + 1:]})
    if nb * n != L:
        y = b.op("slice", y, attrs={"starts": [0], "ends": [L], "axes": [axis], "steps": [1]})
    return y


@dataclass(frozen=True)
class BfpExpand(ModulePass):
    """Rewrite bfp.quantize/bfp.dequantize into tg elementwise arithmetic with the same bits."""

    name = "bfp-expand"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from tensorc.dialects.bfp import DequantizeOp, QuantizeOp

        for q in [o for o in op.walk() if isinstance(o, QuantizeOp)]:
            users = [u.operation for u in list(q.results[0].uses)]
            if not all(isinstance(u, DequantizeOp) for u in users):
                raise PassError(f"bfp-expand: {q.where()} has a user other than bfp.dequantize")
            fmt = q.format.to_format()
            y = expand_quantize(q, fmt, q.axis)
            for u in users:
                u.results[0].replace_all_uses_with(y)
                Rewriter.erase_op(u)
            Rewriter.erase_op(q)


__all__ = ["BfpExpand", "expand_quantize"]
