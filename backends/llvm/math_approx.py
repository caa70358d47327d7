"""Pass `approximate-math`: f32 exp, tanh and erf → polynomial/rational arith code.

libm calls (`expf`, `tanhf`, `erff`) stop LLVM's vectorizers and cost a call per
element; these expansions are straight-line arith/math ops (FMA, floor,
min/max, bitcasts, integer shifts) that work unchanged on scalars and on
`vector<16xf32>`, so fused elementwise loops, softmax and GELU epilogues
vectorize. As MLIR's `math-polynomial-approximation`:

- exp: Cody–Waite range reduction x = n·ln2 + r, a degree-6 minimax polynomial
  of r (Cephes `expf`), and 2^n built in the exponent bits in two halves (so
  results that underflow to denormals or overflow to inf stay right); ~1 ulp.
- tanh: Eigen's rational approximation (odd degree-13 / even degree-6), on x
  clamped to ±7.9988 (where tanh is ±1 in f32); a few ulp.
- erf: x·P(x²) for |x| < 0.92, 1 - exp(Q(|x|)) (Q ≈ log erfc) above, sign
  restored with copysign; within 2 ulp (so 1 + erf(x) in GELU stays accurate).

NaN propagates (the clamps are NaN-propagating `maximumf`/`minimumf`). f64 and
other functions keep their libm calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import arith, builtin as B, math
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

from tensorc.dialects import cpu

from .vector_builder import vector_cmp

LOG2E = 1.44269504088896341
LN2_HI = 0.693359375
LN2_LO = -2.12194440e-4
EXP_POLY = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]

TANH_CLAMP = 7.99881172180175781
TANH_ALPHA = [-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
              1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03]
TANH_BETA = [1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03]

# erf: |x| < ERF_SPLIT: x·P(x²) (relative least squares, degree 12 in x); else
# 1 - exp(Q(|x|)) with Q ≈ log(erfc) (degree 8 on [ERF_SPLIT, ERF_HI]); fitted with numpy
# against math.erf/erfc (tools: see tests/llvm/test_perf_kernels.py::test_approximate_math).
ERF_SPLIT = 0.921875
ERF_HI = 3.925  # erf(x) rounds to 1 in f32 beyond
ERF_A = [8.410998998442665e-05, -0.0008153776288963854, 0.005202175583690405, -0.026859957724809647,
         0.11283708363771439, -0.37612634897232056]
ERF_A0 = 1.128379225730896
ERF_B = [1.6355436400772305e-06, -4.599265957949683e-05, 0.0005959683912806213, -0.004754324443638325,
         0.026402311399579048, -0.11004017293453217, -0.6318756341934204, -1.1302002668380737,
         0.00031093755387701094]


def _is_f32(t) -> bool:
    if isinstance(t, B.VectorType):
        t = t.element_type
    return isinstance(t, B.Float32Type)


class _Emitter:
    """Builds ops before `anchor`, with constants of the anchor's (scalar or vector) type."""

    def __init__(self, anchor: Operation, t):
        self.anchor, self.t = anchor, t
        self.it = B.VectorType(B.i32, t.get_shape()) if isinstance(t, B.VectorType) else B.i32

    def op(self, o: Operation) -> SSAValue:
        Rewriter.insert_op(o, _before(self.anchor))
        return o.results[0]

    def c(self, v: float) -> SSAValue:
        if isinstance(self.t, B.VectorType):
            n = self.t.get_shape()[0]
            return self.op(arith.ConstantOp(B.DenseIntOrFPElementsAttr.from_list(self.t, [float(v)] * n), self.t))
        return self.op(arith.ConstantOp(B.FloatAttr(float(v), self.t)))

    def ci(self, v: int) -> SSAValue:
        if isinstance(self.it, B.VectorType):
            n = self.it.get_shape()[0]
            return self.op(arith.ConstantOp(B.DenseIntOrFPElementsAttr.from_list(self.it, [int(v)] * n), self.it))
        return self.op(arith.ConstantOp(B.IntegerAttr(int(v), self.it)))

    def fma(self, a, b, c):
        return self.op(math.FmaOp(a, b, c))

    def mul(self, a, b):
        return self.op(arith.MulfOp(a, b))

    def add(self, a, b):
        return self.op(arith.AddfOp(a, b))

    def clamp(self, x, lo, hi):
        return self.op(arith.MinimumfOp(self.op(arith.MaximumfOp(x, self.c(lo))), self.c(hi)))

    def horner(self, x, coeffs):
        acc = self.c(coeffs[0])
        for k in coeffs[1:]:
            acc = self.fma(acc, x, self.c(k))
        return acc


def _before(op):
    from xdsl.rewriter import InsertPoint

    return InsertPoint.before(op)


def expand_exp(e: _Emitter, x: SSAValue) -> SSAValue:
    xc = e.clamp(x, -104.0, 88.73)
    n = e.op(math.FloorOp(e.fma(xc, e.c(LOG2E), e.c(0.5))))
    r = e.fma(n, e.c(-LN2_HI), xc)
    r = e.fma(n, e.c(-LN2_LO), r)
    p = e.horner(r, EXP_POLY)
    p = e.fma(e.mul(p, r), r, e.add(r, e.c(1.0)))  # p·r² + r + 1
    # n as an integer without fptosi (no poison on NaN): the bits of n + 1.5·2^23
    ni = e.op(arith.SubiOp(e.op(arith.BitcastOp(e.add(n, e.c(12582912.0)), e.it)), e.ci(0x4B400000)))
    n1 = e.op(arith.ShRSIOp(ni, e.ci(1)))
    n2 = e.op(arith.SubiOp(ni, n1))
    s1 = e.op(arith.BitcastOp(e.op(arith.ShLIOp(e.op(arith.AddiOp(n1, e.ci(127))), e.ci(23))), e.t))
    s2 = e.op(arith.BitcastOp(e.op(arith.ShLIOp(e.op(arith.AddiOp(n2, e.ci(127))), e.ci(23))), e.t))
    return e.mul(e.mul(p, s1), s2)


def expand_tanh(e: _Emitter, x: SSAValue) -> SSAValue:
    xc = e.clamp(x, -TANH_CLAMP, TANH_CLAMP)
    x2 = e.mul(xc, xc)
    p = e.mul(xc, e.horner(x2, TANH_ALPHA))
    q = e.horner(x2, TANH_BETA)
    return e.op(arith.DivfOp(p, q))


def expand_erf(e: _Emitter, x: SSAValue) -> SSAValue:
    ax = e.op(math.AbsFOp(x))
    t = e.mul(ax, ax)
    small = e.fma(ax, e.c(ERF_A0), e.mul(e.mul(ax, t), e.horner(t, ERF_A)))
    xb = e.op(arith.MinimumfOp(ax, e.c(ERF_HI)))
    large = e.op(arith.SubfOp(e.c(1.0), expand_exp(e, e.horner(xb, ERF_B))))
    lt = e.op(vector_cmp(arith.CmpfOp(ax, e.c(ERF_SPLIT), "olt")))
    sel = cpu.VSelectOp(lt, small, large) if isinstance(e.t, B.VectorType) else arith.SelectOp(lt, small, large)
    return e.op(math.CopySignOp(e.op(sel), x))


_EXPANSIONS = {math.ExpOp: expand_exp, math.TanhOp: expand_tanh, math.ErfOp: expand_erf}


@dataclass(frozen=True)
class ApproximateMath(ModulePass):
    """f32 exp/tanh/erf (scalars and vectors) → polynomial arith code that vectorizes."""

    name = "approximate-math"

    def apply(self, ctx: Context, module: B.ModuleOp) -> None:
        todo = [op for op in module.walk() if type(op) in _EXPANSIONS and _is_f32(op.results[0].type)]
        for op in todo:
            e = _Emitter(op, op.results[0].type)
            new = _EXPANSIONS[type(op)](e, op.operands[0])
            op.results[0].replace_all_uses_with(new)
            Rewriter.erase_op(op)
