"""Scalar semantics of elementwise tg ops as arith/math ops, for fused loop bodies.

`emit_scalar(kb, name, args, attrs, in_types, out_type)` returns the SSA value of
one element of tg op `name`; the types are the tg element types (with signedness:
`ui8`, `i8`...). The semantics are those of the reference kernels
(`backends/reference/kernels/`, exact ONNX semantics).

Values in registers ("reg" types), by tg element type:

| tg type | register | in memory |
|---|---|---|
| f32, f64, f16 | same (LLVM float/double/half) | same |
| bf16 | i16 bits (xDSL's exporter has no bfloat) | i16 |
| f8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0), f4 e2m1 | i8 bits | i8 |
| i8..i64, ui8..ui64 | signless iN (signedness from the tg type) | iN |
| i4, ui4, i2, ui2 | i8 holding the value (sign/zero-extended) | i8, one value per byte (low bits) |
| bool | i1 | i1 |

`load_elem`/`store_elem` read and write buffers in these representations (a
`cpu.view` reinterprets a bf16/f8/i4 memref as its integer storage type).

Float math on f16, bf16 and the 8/4-bit floats is computed in f32 and rounded to
the result type after every op, as the reference does (it computes such types in
float32); f64 is computed in f64. Conversions to bf16 and the small float formats
are bit manipulations with round-to-nearest-even, matching ml_dtypes (the ONNX
reference), with the ONNX `saturate` rule of Cast.
"""

from __future__ import annotations

import math as pymath
from dataclasses import dataclass
from typing import Any

from xdsl.dialects import arith, builtin as B, math
from xdsl.ir import Attribute, SSAValue

from tensorc.dialects.cpu import RemFOp, VFCmpOp, VICmpOp, ViewOp, VSelectOp

from .kernel_builder import KernelBuilder


class NotLowerable(Exception):
    """This op/type combination has no scalar lowering (the op stays unsupported)."""


# ---- element types ------------------------------------------------------------------
@dataclass(frozen=True)
class MiniFloat:
    """A small float format: `kind` "ieee" (inf and NaN as IEEE), "fn" (no inf; NaN = all ones),
    "fnuz" (no inf, no -0; NaN = 0x80), "sat" (no inf, no NaN: float4)."""

    ebits: int
    mbits: int
    bias: int
    kind: str

    @property
    def nbits(self) -> int:
        return 1 + self.ebits + self.mbits

    @property
    def max_code(self) -> int:
        """Largest finite magnitude code."""
        e_all = (1 << self.ebits) - 1
        m_all = (1 << self.mbits) - 1
        if self.kind == "ieee":
            return ((e_all - 1) << self.mbits) | m_all
        if self.kind == "fn":
            return (e_all << self.mbits) | (m_all - 1)
        return (e_all << self.mbits) | m_all

    @property
    def max_value(self) -> float:
        c = self.max_code
        e, m = c >> self.mbits, c & ((1 << self.mbits) - 1)
        return (1 + m / (1 << self.mbits)) * 2.0 ** (e - self.bias)


MINIFLOATS: dict[type, MiniFloat] = {
    B.Float8E4M3FNType: MiniFloat(4, 3, 7, "fn"),
    B.Float8E4M3FNUZType: MiniFloat(4, 3, 8, "fnuz"),
    B.Float8E5M2Type: MiniFloat(5, 2, 15, "ieee"),
    B.Float8E5M2FNUZType: MiniFloat(5, 2, 16, "fnuz"),
    B.Float4E2M1FNType: MiniFloat(2, 1, 1, "sat"),
}
# formats whose Cast saturates by default (ONNX `saturate`)
SATURATING = (B.Float8E4M3FNType, B.Float8E4M3FNUZType, B.Float8E5M2Type, B.Float8E5M2FNUZType)
I1, I8, I16, I32, I64 = B.i1, B.i8, B.i16, B.i32, B.i64


def is_native_float(t: Attribute) -> bool:
    return isinstance(t, (B.Float16Type, B.Float32Type, B.Float64Type))


def is_bf16(t: Attribute) -> bool:
    return isinstance(t, B.BFloat16Type)


def is_e8m0(t: Attribute) -> bool:
    return isinstance(t, B.Float8E8M0FNUType)


def minifloat(t: Attribute) -> MiniFloat | None:
    return MINIFLOATS.get(type(t))


def is_float(t: Attribute) -> bool:
    return is_native_float(t) or is_bf16(t) or is_e8m0(t) or minifloat(t) is not None


def is_bool(t: Attribute) -> bool:
    return isinstance(t, B.IntegerType) and t.width.data == 1


def is_int(t: Attribute) -> bool:
    return isinstance(t, B.IntegerType) and t.width.data > 1


def is_unsigned(t: Attribute) -> bool:
    return isinstance(t, B.IntegerType) and (t.signedness.data == B.Signedness.UNSIGNED or t.width.data == 1)


def int_width(t: Attribute) -> int:
    return t.width.data


def is_subbyte(t: Attribute) -> bool:
    return is_int(t) and int_width(t) < 8


def reg_type(t: Attribute) -> Attribute:
    """The loop-level type of a value of tg element type `t`."""
    if is_native_float(t):
        return t
    if is_bf16(t):
        return I16
    if is_e8m0(t) or minifloat(t) is not None:
        return I8
    if isinstance(t, B.IntegerType):
        w = t.width.data
        return I8 if 1 < w < 8 else B.IntegerType(w)
    raise NotLowerable(f"element type {t}")


def storage_type(t: Attribute) -> Attribute:
    """The type of a buffer element in memory (memref element types as lowered from tg)."""
    if isinstance(t, B.IntegerType) and t.width.data == 1:
        return I1
    return reg_type(t)


def compute_type(t: Attribute) -> Attribute:
    """Float math on `t` is done in this type."""
    return B.f64 if isinstance(t, B.Float64Type) else B.f32


# ---- small helpers ------------------------------------------------------------------
def iconst(kb: KernelBuilder, v: int, t: Attribute) -> SSAValue:
    """Integer constant, `v` taken modulo 2**width (as a signed value: signless types)."""
    w = t.width.data
    v = int(v) & ((1 << w) - 1)
    if w > 1 and v >= 1 << (w - 1):
        v -= 1 << w
    if w == 1:
        v = -v if v else 0
    return kb.const(v, t)


def fconst(kb: KernelBuilder, v: float, t: Attribute) -> SSAValue:
    return kb.const(float(v), t)


# Compares and selects on vectors (vector epilogues run these semantics on vector<16xf32>) are
# the cpu ops: xDSL's arith.cmpf/cmpi/select type their condition as a scalar i1.
def _sel(kb, cond, a, b):
    if isinstance(cond.type, B.VectorType):
        return kb.op(VSelectOp(cond, a, b))
    return kb.op(arith.SelectOp(cond, a, b))


def _cmpf(kb, a, b, pred):
    if isinstance(a.type, B.VectorType):
        return kb.op(VFCmpOp(a, b, pred))
    return kb.op(arith.CmpfOp(a, b, pred))


def _cmpi(kb, a, b, pred):
    if isinstance(a.type, B.VectorType):
        return kb.op(VICmpOp(a, b, pred))
    return kb.op(arith.CmpiOp(a, b, pred))


def _and(kb, a, b):
    return kb.op(arith.AndIOp(a, b))


def _or(kb, a, b):
    return kb.op(arith.OrIOp(a, b))


def _not(kb, a):
    return kb.op(arith.XOrIOp(a, iconst(kb, 1, I1)))


def _resize(kb, x: SSAValue, to: Attribute, signed: bool) -> SSAValue:
    wi, wo = x.type.width.data, to.width.data
    if wi == wo:
        return x
    if wo < wi:
        return kb.op(arith.TruncIOp(x, to))
    return kb.op((arith.ExtSIOp if signed else arith.ExtUIOp)(x, to))


def _isnan(kb, x):
    return _cmpf(kb, x, x, "uno")


# ---- memory -------------------------------------------------------------------------
def storage_view(kb: KernelBuilder, buf: SSAValue) -> SSAValue:
    """`buf` as a memref of its storage type (a zero-copy view when they differ)."""
    mt = buf.type
    st = storage_type(mt.element_type)
    if st == mt.element_type:
        return buf
    vt = B.MemRefType(st, list(mt.get_shape()))
    return kb._entry_const(("view", buf, st), lambda: ViewOp(buf, 0, vt))


def load_elem(kb: KernelBuilder, buf: SSAValue, idx, t: Attribute) -> SSAValue:
    """buf[idx] as a register value of tg element type `t`."""
    v = kb.load(storage_view(kb, buf), idx)
    if is_subbyte(t):
        v = normalize_subbyte(kb, v, t)
    return v


def store_elem(kb: KernelBuilder, v: SSAValue, buf: SSAValue, idx, t: Attribute) -> None:
    if is_subbyte(t):
        v = kb.op(arith.AndIOp(v, iconst(kb, (1 << int_width(t)) - 1, I8)))
    kb.store(v, storage_view(kb, buf), idx)


def normalize_subbyte(kb: KernelBuilder, v: SSAValue, t: Attribute) -> SSAValue:
    """An i8 whose low bits are an int4/int2 value → that value, sign- or zero-extended."""
    w = int_width(t)
    if is_unsigned(t):
        return kb.op(arith.AndIOp(v, iconst(kb, (1 << w) - 1, I8)))
    sh = iconst(kb, 8 - w, I8)
    return kb.op(arith.ShRSIOp(kb.op(arith.ShLIOp(v, sh)), sh))


# ---- float formats ------------------------------------------------------------------
def bf16_to_f32(kb, v):
    w = kb.op(arith.ShLIOp(kb.op(arith.ExtUIOp(v, I32)), iconst(kb, 16, I32)))
    return kb.op(arith.BitcastOp(w, B.f32))


def f32_to_bf16(kb, x):
    """Round to nearest even; NaN → quiet NaN with the sign kept (as ml_dtypes)."""
    bits = kb.op(arith.BitcastOp(x, I32))
    c = lambda v: iconst(kb, v, I32)  # noqa: E731
    lsb = kb.op(arith.AndIOp(kb.op(arith.ShRUIOp(bits, c(16))), c(1)))
    r = kb.op(arith.ShRUIOp(kb.op(arith.AddiOp(kb.op(arith.AddiOp(bits, c(0x7FFF))), lsb)), c(16)))
    nan = kb.op(arith.OrIOp(kb.op(arith.AndIOp(kb.op(arith.ShRUIOp(bits, c(16))), c(0x8000))), c(0x7FC0)))
    return kb.op(arith.TruncIOp(_sel(kb, _isnan(kb, x), nan, r), I16))


def minifloat_to_f32(kb, v, fmt: MiniFloat):
    """Decode (exact): i8 code → f32."""
    c = lambda x: iconst(kb, x, I32)  # noqa: E731
    u = kb.op(arith.AndIOp(kb.op(arith.ExtUIOp(v, I32)), c((1 << fmt.nbits) - 1)))
    sign = kb.op(arith.AndIOp(kb.op(arith.ShRUIOp(u, c(fmt.nbits - 1))), c(1)))
    e = kb.op(arith.AndIOp(kb.op(arith.ShRUIOp(u, c(fmt.mbits))), c((1 << fmt.ebits) - 1)))
    m = kb.op(arith.AndIOp(u, c((1 << fmt.mbits) - 1)))
    # normal: rebias the exponent, move the mantissa to the top of f32's
    nb = kb.op(arith.OrIOp(
        kb.op(arith.ShLIOp(kb.op(arith.AddiOp(e, c(127 - fmt.bias))), c(23))),
        kb.op(arith.ShLIOp(m, c(23 - fmt.mbits)))))
    normal = kb.op(arith.BitcastOp(nb, B.f32))
    sub = kb.op(arith.MulfOp(kb.op(arith.SIToFPOp(m, B.f32)), fconst(kb, 2.0 ** (1 - fmt.bias - fmt.mbits), B.f32)))
    mag = _sel(kb, _cmpi(kb, e, c(0), "eq"), sub, normal)
    e_all = (1 << fmt.ebits) - 1
    nan = fconst(kb, float("nan"), B.f32)
    if fmt.kind == "ieee":
        special = _cmpi(kb, e, c(e_all), "eq")
        inf_or_nan = _sel(kb, _cmpi(kb, m, c(0), "eq"), fconst(kb, float("inf"), B.f32), nan)
        mag = _sel(kb, special, inf_or_nan, mag)
    elif fmt.kind == "fn":
        low = kb.op(arith.AndIOp(u, c((1 << (fmt.nbits - 1)) - 1)))
        mag = _sel(kb, _cmpi(kb, low, c((1 << (fmt.nbits - 1)) - 1), "eq"), nan, mag)
    neg = _sel(kb, _cmpi(kb, sign, c(1), "eq"), kb.op(arith.NegfOp(mag)), mag)
    if fmt.kind == "fnuz":  # 0x80, the "negative zero", is NaN (decoded with the sign set, as ml_dtypes)
        neg = _sel(kb, _cmpi(kb, u, c(1 << (fmt.nbits - 1)), "eq"), kb.op(arith.NegfOp(nan)), neg)
    return neg


def f32_to_minifloat(kb, x, fmt: MiniFloat):
    """Round to nearest even, no saturation (as ml_dtypes): overflow → inf (ieee) or NaN
    (fn, fnuz) or the largest value (sat). Returns the i8 code."""
    c = lambda v: iconst(kb, v, I32)  # noqa: E731
    bits = kb.op(arith.BitcastOp(x, I32))
    sign = kb.op(arith.ShRUIOp(bits, c(31)))
    ab = kb.op(arith.AndIOp(bits, c(0x7FFFFFFF)))
    absf = kb.op(arith.BitcastOp(ab, B.f32))
    shift = 23 - fmt.mbits
    # normal range: round the f32 mantissa to mbits (the carry may bump the exponent), rebias
    lsb = kb.op(arith.AndIOp(kb.op(arith.ShRUIOp(ab, c(shift))), c(1)))
    rb = kb.op(arith.AddiOp(kb.op(arith.AddiOp(ab, c((1 << (shift - 1)) - 1))), lsb))
    code_n = kb.op(arith.SubiOp(kb.op(arith.ShRUIOp(rb, c(shift))), c((127 - fmt.bias) << fmt.mbits)))
    # subnormal range (|x| < 2^(1-bias)): the code is |x| / 2^(1-bias-mbits), rounded to even
    scaled = kb.op(math.RoundEvenOp(kb.op(arith.MulfOp(absf, fconst(kb, 2.0 ** (fmt.bias - 1 + fmt.mbits), B.f32)))))
    code_s = kb.op(arith.FPToSIOp(scaled, I32))
    is_sub = _cmpi(kb, ab, c((128 - fmt.bias) << 23), "ult")
    code = _sel(kb, is_sub, code_s, code_n)
    over = _cmpi(kb, code, c(fmt.max_code), "sgt")  # also ±inf
    nan = _cmpi(kb, ab, c(0x7F800000), "ugt")
    top = fmt.nbits - 1
    e_all = (1 << fmt.ebits) - 1
    if fmt.kind == "ieee":
        code = _sel(kb, over, c(e_all << fmt.mbits), code)
        code = _sel(kb, nan, c((e_all << fmt.mbits) | (1 << (fmt.mbits - 1))), code)
        res = kb.op(arith.OrIOp(code, kb.op(arith.ShLIOp(sign, c(top)))))
    elif fmt.kind == "fn":
        code = _sel(kb, _or(kb, over, nan), c((1 << top) - 1), code)
        res = kb.op(arith.OrIOp(code, kb.op(arith.ShLIOp(sign, c(top)))))
    elif fmt.kind == "fnuz":
        with_sign = kb.op(arith.OrIOp(code, kb.op(arith.ShLIOp(sign, c(top)))))
        signed = _sel(kb, _cmpi(kb, code, c(0), "eq"), code, with_sign)
        res = _sel(kb, _or(kb, over, nan), c(1 << top), signed)
    else:  # sat: no inf/NaN; NaN becomes a zero of the opposite sign (as ml_dtypes)
        code = _sel(kb, over, c(fmt.max_code), code)
        res = kb.op(arith.OrIOp(code, kb.op(arith.ShLIOp(sign, c(top)))))
        flipped = kb.op(arith.ShLIOp(kb.op(arith.XOrIOp(sign, c(1))), c(top)))
        res = _sel(kb, nan, flipped, res)
    return kb.op(arith.TruncIOp(res, I8))


def e8m0_to_f32(kb, v):
    c = lambda x: iconst(kb, x, I32)  # noqa: E731
    u = kb.op(arith.ExtUIOp(v, I32))
    bits = _sel(kb, _cmpi(kb, u, c(0), "eq"), c(0x00400000), kb.op(arith.ShLIOp(u, c(23))))
    f = kb.op(arith.BitcastOp(bits, B.f32))
    return _sel(kb, _cmpi(kb, u, c(0xFF), "eq"), fconst(kb, float("nan"), B.f32), f)


def f32_to_e8m0(kb, x, saturate: bool, round_mode: str = "up"):
    """ONNX Cast-24 to float8e8m0 (exponent only; the sign is dropped)."""
    c = lambda v: iconst(kb, v, I32)  # noqa: E731
    bits = kb.op(arith.BitcastOp(x, I32))
    exp = kb.op(arith.AndIOp(kb.op(arith.ShRUIOp(bits, c(23))), c(0xFF)))
    special = _cmpi(kb, exp, c(0xFF), "eq")
    if round_mode == "up":
        up = _cmpi(kb, kb.op(arith.AndIOp(bits, c(0x7FFFFF))), c(0), "ne")
    elif round_mode == "nearest":
        g = _cmpi(kb, kb.op(arith.AndIOp(bits, c(0x400000))), c(0), "ne")
        r = _cmpi(kb, kb.op(arith.AndIOp(bits, c(0x200000))), c(0), "ne")
        s = _cmpi(kb, kb.op(arith.AndIOp(bits, c(0x1FFFFF))), c(0), "ne")
        lsb = _cmpi(kb, exp, c(0), "ne")
        up = _and(kb, g, _or(kb, _or(kb, r, s), lsb))
    else:
        up = iconst(kb, 0, I1)
    up = _and(kb, up, _not(kb, special))
    if saturate:
        up = _and(kb, up, _cmpi(kb, exp, c(0xFE), "ne"))
    e = kb.op(arith.AddiOp(exp, kb.op(arith.ExtUIOp(up, I32))))
    e = kb.op(arith.MinUIOp(e, c(0xFF)))
    e = _sel(kb, special, c(0xFF), e)
    return kb.op(arith.TruncIOp(e, I8))


def f64_to_f16(kb, x):
    """float64 → float16 with one rounding, without LLVM's `__truncdfhf2` libcall (which the
    JIT cannot resolve): round to odd into float32 (24 bits are enough), then to nearest even."""
    t = kb.op(arith.TruncFOp(x, B.f32))
    back = kb.op(arith.ExtFOp(t, B.f64))
    bits = kb.op(arith.BitcastOp(t, I32))
    # toward zero: step the magnitude down when rounding went away from zero
    away = _cmpf(kb, kb.op(math.AbsFOp(back)), kb.op(math.AbsFOp(x)), "ogt")
    bits = _sel(kb, away, kb.op(arith.SubiOp(bits, iconst(kb, 1, I32))), bits)
    inexact = _cmpf(kb, back, x, "une")
    bits = _sel(kb, inexact, kb.op(arith.OrIOp(bits, iconst(kb, 1, I32))), bits)
    return kb.op(arith.TruncFOp(kb.op(arith.BitcastOp(bits, B.f32)), B.f16))


def to_compute(kb: KernelBuilder, v: SSAValue, t: Attribute) -> SSAValue:
    """A float register value of tg type `t` in its compute type (exact)."""
    if isinstance(t, (B.Float32Type, B.Float64Type)):
        return v
    if isinstance(t, B.Float16Type):
        return kb.op(arith.ExtFOp(v, B.f32))
    if is_bf16(t):
        return bf16_to_f32(kb, v)
    if is_e8m0(t):
        return e8m0_to_f32(kb, v)
    fmt = minifloat(t)
    if fmt is not None:
        return minifloat_to_f32(kb, v, fmt)
    raise NotLowerable(f"float type {t}")


def from_compute(kb: KernelBuilder, v: SSAValue, t: Attribute, saturate: bool = False) -> SSAValue:
    """An f32/f64 value rounded to float type `t` (round to nearest even)."""
    if v.type == t:
        return v
    if isinstance(t, B.Float16Type) and isinstance(v.type, B.Float64Type):
        return f64_to_f16(kb, v)
    if isinstance(t, (B.Float16Type, B.Float32Type)):
        return kb.op(arith.TruncFOp(v, t))
    if isinstance(t, B.Float64Type):
        return kb.op(arith.ExtFOp(v, t))
    # bf16 and the small formats round from f32 (ml_dtypes converts float64 through float32)
    if isinstance(v.type, B.Float64Type):
        v = kb.op(arith.TruncFOp(v, B.f32))
    if is_bf16(t):
        return f32_to_bf16(kb, v)
    if is_e8m0(t):
        return f32_to_e8m0(kb, v, saturate)
    fmt = minifloat(t)
    if fmt is not None:
        if saturate and isinstance(t, SATURATING):
            m = fconst(kb, fmt.max_value, B.f32)
            v = _sel(kb, _cmpf(kb, v, m, "ogt"), m, v)
            nm = fconst(kb, -fmt.max_value, B.f32)
            v = _sel(kb, _cmpf(kb, v, nm, "olt"), nm, v)
        return f32_to_minifloat(kb, v, fmt)
    raise NotLowerable(f"float type {t}")


# ---- cast ---------------------------------------------------------------------------
def int_to_float(kb, v, t, ft):
    """Integer/bool register value of tg type `t` → native float type `ft`."""
    if is_unsigned(t):
        if is_subbyte(t) or is_bool(t):
            return kb.op(arith.SIToFPOp(_resize(kb, v, I32, signed=False), ft))
        return kb.op(arith.UIToFPOp(v, ft))
    return kb.op(arith.SIToFPOp(v, ft))


def float_to_int(kb, x, t):
    """A native float (f32/f64) → integer tg type `t`, as numpy: truncate toward zero via
    int64 (so out-of-range values wrap), uint64 directly."""
    rt = reg_type(t)
    if is_unsigned(t) and int_width(t) == 64:
        return kb.op(arith.FPToUIOp(x, I64))
    r = kb.op(arith.FPToSIOp(x, I64))
    r = _resize(kb, r, rt, signed=True)
    if is_subbyte(t):
        r = normalize_subbyte(kb, r, t)
    return r


def cast(kb: KernelBuilder, v: SSAValue, src: Attribute, dst: Attribute, saturate: bool = True,
         round_mode: str = "up") -> SSAValue:
    """ONNX Cast of a register value of tg type `src` to tg type `dst` (reference semantics)."""
    if src == dst:
        return v
    if is_bool(dst):
        if is_float(src):
            x = to_compute(kb, v, src)
            return _cmpf(kb, x, fconst(kb, 0.0, x.type), "une")
        return _cmpi(kb, v, iconst(kb, 0, v.type), "ne")
    if is_float(dst):
        if is_float(src):
            if is_native_float(dst) and is_native_float(src):  # one rounding (numpy)
                if dst.bitwidth > src.bitwidth:
                    return kb.op(arith.ExtFOp(v, dst))
                return from_compute(kb, v, dst)
            return from_compute(kb, to_compute(kb, v, src), dst, saturate)
        # integer or bool source
        if is_native_float(dst):
            return int_to_float(kb, v, src, dst)
        if is_e8m0(dst):  # ml_dtypes: round to nearest (ties up); zero and negatives are NaN
            code = f32_to_e8m0(kb, int_to_float(kb, v, src, B.f32), saturate, "nearest")
            zero = iconst(kb, 0, v.type)
            bad = _cmpi(kb, v, zero, "eq" if is_unsigned(src) else "sle")
            return _sel(kb, bad, iconst(kb, 0xFF, I8), code)
        if saturate and isinstance(dst, SATURATING):  # reference: through float64, then clamp
            return from_compute(kb, int_to_float(kb, v, src, B.f64), dst, saturate)
        return from_compute(kb, int_to_float(kb, v, src, B.f32), dst, saturate)
    if not is_int(dst):
        raise NotLowerable(f"cast {src} -> {dst}")
    if is_float(src):
        x = to_compute(kb, v, src)
        return float_to_int(kb, x, dst)
    # integer (or bool) → integer: extend by the source's signedness, wrap to the target
    r = _resize(kb, v, reg_type(dst), signed=not is_unsigned(src))
    if is_subbyte(dst):
        r = normalize_subbyte(kb, r, dst)
    return r


# ---- float ops (on the compute type f32/f64) ----------------------------------------
_FLOAT_FN = {"floor": math.FloorOp, "ceil": math.CeilOp, "sqrt": math.SqrtOp, "exp": math.ExpOp,
             "log": math.LogOp, "sin": math.SinOp, "cos": math.CosOp, "tan": math.TanOp, "tanh": math.TanhOp,
             "erf": math.ErfOp, "atan": math.AtanOp, "asin": math.AsinOp, "acos": math.AcosOp,
             "sinh": math.SinhOp, "cosh": math.CoshOp, "asinh": math.AsinhOp, "acosh": math.AcoshOp,
             "atanh": math.AtanhOp, "abs": math.AbsFOp, "round": math.RoundEvenOp}


def _clip01(kb, y, t):
    """np.clip(y, 0, 1): NaN stays NaN."""
    return kb.op(arith.MinimumfOp(kb.op(arith.MaximumfOp(y, fconst(kb, 0.0, t))), fconst(kb, 1.0, t)))


def _softplus(kb, x, t):
    """log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|))."""
    e = kb.op(math.ExpOp(kb.op(arith.NegfOp(kb.op(math.AbsFOp(x))))))
    return kb.op(arith.AddfOp(kb.op(arith.MaximumfOp(x, fconst(kb, 0.0, t))), kb.op(math.Log1pOp(e))))


def _expm1(kb, x):
    """exp(x) - 1 accurate near 0 with LLVM intrinsics only (they vectorize; libm's expm1 would not):
    Kahan's (u - 1) * x / log(u), u = exp(x)."""
    t = x.type
    u = kb.op(math.ExpOp(x))
    one = fconst(kb, 1.0, t)
    um1 = kb.op(arith.SubfOp(u, one))
    r = kb.op(arith.DivfOp(kb.op(arith.MulfOp(um1, x)), kb.op(math.LogOp(u))))
    r = _sel(kb, _cmpf(kb, u, one, "oeq"), x, r)
    r = _sel(kb, _cmpf(kb, um1, fconst(kb, -1.0, t), "oeq"), um1, r)
    return _sel(kb, _cmpf(kb, u, fconst(kb, float("inf"), t), "oeq"), u, r)


def float_unary(kb: KernelBuilder, name: str, x: SSAValue, attrs: dict, t: Attribute) -> SSAValue:
    """One element of a unary float op, `x` and the result of compute type `t`."""
    c = lambda v: fconst(kb, v, t)  # noqa: E731
    op = kb.op
    a = lambda k, d: float(attrs[k]) if attrs.get(k) is not None else d  # noqa: E731
    if name in _FLOAT_FN:
        return op(_FLOAT_FN[name](x))
    if name == "neg":
        return op(arith.NegfOp(x))
    if name == "identity":
        return x
    if name == "reciprocal":
        return op(arith.DivfOp(c(1.0), x))
    if name == "relu":
        return op(arith.MaximumfOp(x, c(0.0)))
    if name == "sigmoid":  # stable for both signs, as the reference
        e = op(math.ExpOp(op(arith.NegfOp(op(math.AbsFOp(x))))))
        r = op(arith.DivfOp(c(1.0), op(arith.AddfOp(c(1.0), e))))
        return _sel(kb, _cmpf(kb, x, c(0.0), "oge"), r, op(arith.MulfOp(e, r)))
    if name == "sign":
        s = _sel(kb, _cmpf(kb, x, c(0.0), "ogt"), c(1.0), c(0.0))
        s = _sel(kb, _cmpf(kb, x, c(0.0), "olt"), c(-1.0), s)
        return _sel(kb, _isnan(kb, x), x, s)
    if name == "leaky_relu":
        return _sel(kb, _cmpf(kb, x, c(0.0), "olt"), op(arith.MulfOp(x, c(a("alpha", 0.01)))), x)
    if name == "elu":
        return _sel(kb, _cmpf(kb, x, c(0.0), "olt"), op(arith.MulfOp(c(a("alpha", 1.0)), _expm1(kb, x))), x)
    if name == "selu":
        al, g = a("alpha", 1.67326319217681884765625), a("gamma", 1.05070102214813232421875)
        neg = op(arith.MulfOp(c(al), _expm1(kb, x)))
        return op(arith.MulfOp(c(g), _sel(kb, _cmpf(kb, x, c(0.0), "ole"), neg, x)))
    if name == "celu":
        al = a("alpha", 1.0)
        neg = op(arith.MulfOp(c(al), _expm1(kb, op(arith.DivfOp(x, c(al))))))
        return op(arith.AddfOp(op(arith.MaximumfOp(x, c(0.0))), op(arith.MinimumfOp(c(0.0), neg))))
    if name == "hard_sigmoid":
        y = op(arith.AddfOp(op(arith.MulfOp(c(a("alpha", 0.2)), x)), c(a("beta", 0.5))))
        return _clip01(kb, y, t)
    if name == "hard_swish":
        y = op(arith.AddfOp(op(arith.MulfOp(x, c(1.0 / 6.0))), c(0.5)))
        return op(arith.MulfOp(x, _clip01(kb, y, t)))
    if name == "softplus":
        return _softplus(kb, x, t)
    if name == "softsign":
        return op(arith.DivfOp(x, op(arith.AddfOp(c(1.0), op(math.AbsFOp(x))))))
    if name == "mish":
        return op(arith.MulfOp(x, op(math.TanhOp(_softplus(kb, x, t)))))
    if name == "gelu":  # without the cancellation of 1 + tanh/erf for negative x
        if attrs.get("approximate") == "tanh":  # 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u))
            x3 = op(arith.MulfOp(x, op(arith.MulfOp(x, x))))
            inner = op(arith.AddfOp(x, op(arith.MulfOp(c(0.044715), x3))))
            inner = op(arith.MulfOp(c(pymath.sqrt(2 / pymath.pi)), inner))
            e = op(math.ExpOp(op(arith.MulfOp(c(-2.0), inner))))
            return op(arith.DivfOp(x, op(arith.AddfOp(c(1.0), e))))
        # erf, not libm's erfc: `approximate-math` expands f32 erf into vectorizable code (1 + erf
        # loses relative accuracy only where |gelu(x)| < 1e-4, x < -3.7)
        e = op(math.ErfOp(op(arith.DivfOp(x, c(pymath.sqrt(2.0))))))
        return op(arith.MulfOp(op(arith.MulfOp(c(0.5), x)), op(arith.AddfOp(c(1.0), e))))
    if name == "clip":  # x < lo → lo, then x > hi → hi (hi wins when lo > hi; NaN stays)
        if attrs.get("min") is not None:
            lo = c(attrs["min"])
            x = _sel(kb, _cmpf(kb, x, lo, "olt"), lo, x)
        if attrs.get("max") is not None:
            hi = c(attrs["max"])
            x = _sel(kb, _cmpf(kb, x, hi, "ogt"), hi, x)
        return x
    if name == "thresholded_relu":
        return _sel(kb, _cmpf(kb, x, c(a("alpha", 1.0)), "ogt"), x, c(0.0))
    if name == "shrink":
        lam, bias = a("lambd", 0.5), a("bias", 0.0)
        hi = _sel(kb, _cmpf(kb, x, c(lam), "ogt"), op(arith.SubfOp(x, c(bias))), c(0.0))
        return _sel(kb, _cmpf(kb, x, c(-lam), "olt"), op(arith.AddfOp(x, c(bias))), hi)
    raise NotLowerable(name)


def _float_mod(kb, a, b, fmod: bool, t):
    r = kb.op(RemFOp(a, b))  # C fmod: the sign of the dividend
    if fmod:
        return r
    # numpy's mod: the sign of the divisor; an exact zero takes the divisor's sign
    zero = fconst(kb, 0.0, t)
    fix = _and(kb, _cmpf(kb, r, zero, "one"),
               kb.op(arith.XOrIOp(_cmpf(kb, b, zero, "olt"), _cmpf(kb, r, zero, "olt"))))
    r = _sel(kb, fix, kb.op(arith.AddfOp(r, b)), r)
    return _sel(kb, _cmpf(kb, r, zero, "oeq"), kb.op(math.CopySignOp(zero, b)), r)


def float_binary(kb: KernelBuilder, name: str, a: SSAValue, b: SSAValue, attrs: dict, t: Attribute) -> SSAValue:
    op = kb.op
    if name == "add":
        return op(arith.AddfOp(a, b))
    if name == "sub":
        return op(arith.SubfOp(a, b))
    if name == "mul":
        return op(arith.MulfOp(a, b))
    if name == "div":
        return op(arith.DivfOp(a, b))
    if name == "max":
        return op(arith.MaximumfOp(a, b))
    if name == "min":
        return op(arith.MinimumfOp(a, b))
    if name == "pow":
        return op(math.PowFOp(a, b))
    if name == "prelu":
        return _sel(kb, _cmpf(kb, a, fconst(kb, 0.0, t), "olt"), op(arith.MulfOp(a, b)), a)
    if name == "mod":
        return _float_mod(kb, a, b, bool(int(attrs.get("fmod") or 0)), t)
    raise NotLowerable(name)


# ---- integer ops --------------------------------------------------------------------
def int_unary(kb: KernelBuilder, name: str, x: SSAValue, attrs: dict, t: Attribute) -> SSAValue | None:
    rt = x.type
    zero = iconst(kb, 0, rt)
    uns = is_unsigned(t)
    if name in ("identity", "floor", "ceil", "round"):
        return x
    if name == "abs":
        return x if uns else _sel(kb, _cmpi(kb, x, zero, "slt"), kb.op(arith.SubiOp(zero, x)), x)
    if name == "neg":
        return kb.op(arith.SubiOp(zero, x))
    if name == "sign":
        one = iconst(kb, 1, rt)
        if uns:
            return _sel(kb, _cmpi(kb, x, zero, "ne"), one, zero)
        s = _sel(kb, _cmpi(kb, x, zero, "sgt"), one, zero)
        return _sel(kb, _cmpi(kb, x, zero, "slt"), iconst(kb, -1, rt), s)
    if name == "relu":
        return x if uns else kb.op(arith.MaxSIOp(x, zero))
    if name == "bitwise_not":
        return kb.op(arith.XOrIOp(x, iconst(kb, -1, rt)))
    if name == "clip":
        w = int_width(t)
        lo_t, hi_t = (0, (1 << w) - 1) if uns else (-(1 << (w - 1)), (1 << (w - 1)) - 1)
        if attrs.get("min") is not None:
            lo = iconst(kb, int(max(min(attrs["min"], hi_t), lo_t)), rt)
            x = _sel(kb, _cmpi(kb, x, lo, "ult" if uns else "slt"), lo, x)
        if attrs.get("max") is not None:
            hi = iconst(kb, int(max(min(attrs["max"], hi_t), lo_t)), rt)
            x = _sel(kb, _cmpi(kb, x, hi, "ugt" if uns else "sgt"), hi, x)
        return x
    return None


def _int_div(kb, a, b, uns):
    rt = a.type
    zero, one = iconst(kb, 0, rt), iconst(kb, 1, rt)
    bz = _cmpi(kb, b, zero, "eq")
    if uns:
        q = kb.op(arith.DivUIOp(a, _sel(kb, bz, one, b)))
        return _sel(kb, bz, zero, q)
    # x / 0 → 0; MIN / -1 wraps (no trap): divide by 1 and negate
    bm1 = _cmpi(kb, b, iconst(kb, -1, rt), "eq")
    q = kb.op(arith.DivSIOp(a, _sel(kb, _or(kb, bz, bm1), one, b)))
    q = _sel(kb, bm1, kb.op(arith.SubiOp(zero, a)), q)
    return _sel(kb, bz, zero, q)


def _int_mod(kb, a, b, uns, fmod):
    rt = a.type
    zero, one = iconst(kb, 0, rt), iconst(kb, 1, rt)
    if uns:
        bz = _cmpi(kb, b, zero, "eq")
        return _sel(kb, bz, zero, kb.op(arith.RemUIOp(a, _sel(kb, bz, one, b))))
    # x % 0 → 0 (numpy), x % -1 → 0 (and no trap on MIN % -1)
    safe = _or(kb, _cmpi(kb, b, zero, "eq"), _cmpi(kb, b, iconst(kb, -1, rt), "eq"))
    r = kb.op(arith.RemSIOp(a, _sel(kb, safe, one, b)))
    if fmod:
        return r
    fix = _and(kb, _cmpi(kb, r, zero, "ne"), kb.op(arith.XOrIOp(_cmpi(kb, r, zero, "slt"), _cmpi(kb, b, zero, "slt"))))
    return _sel(kb, fix, kb.op(arith.AddiOp(r, b)), r)


def _bit_shift(kb, a, b, t, left: bool):
    """BitShift: a shift amount < 0 or >= the width gives what the sign extension alone gives."""
    rt = a.type
    w = int_width(t)
    uns = is_unsigned(t)
    zero = iconst(kb, 0, rt)
    oor = _cmpi(kb, b, iconst(kb, w, rt), "uge")  # negative amounts are huge unsigned
    s = _sel(kb, oor, zero, b)
    if left:
        r = kb.op(arith.ShLIOp(a, s))
        return _sel(kb, oor, zero, r)
    if uns:
        return _sel(kb, oor, zero, kb.op(arith.ShRUIOp(a, s)))
    fill = kb.op(arith.ShRSIOp(a, iconst(kb, rt.width.data - 1, rt)))
    return _sel(kb, oor, fill, kb.op(arith.ShRSIOp(a, s)))


def int_binary(kb: KernelBuilder, name: str, a: SSAValue, b: SSAValue, attrs: dict, t: Attribute) -> SSAValue | None:
    uns = is_unsigned(t)
    op = kb.op
    simple = {"add": arith.AddiOp, "sub": arith.SubiOp, "mul": arith.MuliOp, "and": arith.AndIOp,
              "or": arith.OrIOp, "xor": arith.XOrIOp, "bitwise_and": arith.AndIOp, "bitwise_or": arith.OrIOp,
              "bitwise_xor": arith.XOrIOp}
    if name in simple:
        return op(simple[name](a, b))
    if name == "max":
        return op((arith.MaxUIOp if uns else arith.MaxSIOp)(a, b))
    if name == "min":
        return op((arith.MinUIOp if uns else arith.MinSIOp)(a, b))
    if name == "div":
        return _int_div(kb, a, b, uns)
    if name == "mod":
        return _int_mod(kb, a, b, uns, bool(int(attrs.get("fmod") or 0)))
    if name == "bit_shift":
        return _bit_shift(kb, a, b, t, str(attrs.get("direction") or "LEFT").upper() == "LEFT")
    if name == "prelu":
        if uns:
            return a
        return _sel(kb, _cmpi(kb, a, iconst(kb, 0, a.type), "slt"), op(arith.MuliOp(a, b)), a)
    return None


# ---- pow ----------------------------------------------------------------------------
def _ipow(kb, base, e, e_bits: int):
    """base ** e (e >= 0, `e_bits` wide) by square-and-multiply, wrapping in base's width."""
    rt = base.type

    def body(ivs, accs):
        r, b = accs
        k = kb.op(arith.IndexCastOp(ivs[0], e.type))
        low = kb.op(arith.AndIOp(kb.op(arith.ShRUIOp(e, k)), iconst(kb, 1, e.type)))
        bit = _cmpi(kb, low, iconst(kb, 0, e.type), "ne")
        r = _sel(kb, bit, kb.op(arith.MuliOp(r, b)), r)
        return [r, kb.op(arith.MuliOp(b, b))]

    return kb.fold([e_bits], [iconst(kb, 1, rt), base], body)[0]


def _pow(kb, a, b, ta, tb, out_t):
    if is_float(ta):
        x = to_compute(kb, a, ta)
        ct = x.type
        if is_float(tb):
            y = to_compute(kb, b, tb)
            if y.type != ct:
                y = kb.op(arith.TruncFOp(y, ct) if y.type.bitwidth > ct.bitwidth else arith.ExtFOp(y, ct))
        else:
            y = int_to_float(kb, b, tb, B.f64 if int_width(tb) > 32 else ct)
            if y.type != ct:
                y = kb.op(arith.TruncFOp(y, ct))
        return from_compute(kb, kb.op(math.PowFOp(x, y)), out_t)
    if not is_int(ta):
        raise NotLowerable(f"pow on {ta}")
    if is_float(tb):  # int base, float exponent: trunc(float64(a) ** b)
        x = int_to_float(kb, a, ta, B.f64)
        y = to_compute(kb, b, tb)
        if y.type != B.f64:
            y = kb.op(arith.ExtFOp(y, B.f64))
        return float_to_int(kb, kb.op(math.TruncOp(kb.op(math.PowFOp(x, y)))), ta)
    if not is_int(tb):
        raise NotLowerable(f"pow exponent {tb}")
    rt = a.type
    e = _resize(kb, b, I64, signed=not is_unsigned(tb))
    zero64 = iconst(kb, 0, I64)
    neg = _cmpi(kb, e, zero64, "slt")
    pos = _ipow(kb, a, _sel(kb, neg, zero64, e), 64 if int_width(tb) > 32 else max(int_width(tb), 8))
    # negative exponents: trunc(a ** e) is 1 for a == 1, +-1 for a == -1, else 0
    one, zero = iconst(kb, 1, rt), iconst(kb, 0, rt)
    r_neg = _sel(kb, _cmpi(kb, a, one, "eq"), one, zero)
    if not is_unsigned(ta):
        odd = _cmpi(kb, kb.op(arith.AndIOp(e, iconst(kb, 1, I64))), zero64, "ne")
        m1 = _sel(kb, odd, iconst(kb, -1, rt), one)
        r_neg = _sel(kb, _cmpi(kb, a, iconst(kb, -1, rt), "eq"), m1, r_neg)
    r = _sel(kb, neg, r_neg, pos)
    return normalize_subbyte(kb, r, ta) if is_subbyte(ta) else r


# ---- entry point --------------------------------------------------------------------
_FCMP = {"equal": "oeq", "less": "olt", "less_or_equal": "ole", "greater": "ogt", "greater_or_equal": "oge"}
_SCMP = {"equal": "eq", "less": "slt", "less_or_equal": "sle", "greater": "sgt", "greater_or_equal": "sge"}
_UCMP = {"equal": "eq", "less": "ult", "less_or_equal": "ule", "greater": "ugt", "greater_or_equal": "uge"}
_FLOAT_ONLY_PREDICATES = ("is_nan", "is_inf")


def emit_scalar(kb: KernelBuilder, name: str, args: list[SSAValue], attrs: dict[str, Any], in_types,
                out_type: Attribute) -> SSAValue:
    """One element of tg op `name` on register values; `in_types` are the operands' tg
    element types (a single type stands for all operands), `out_type` the result's."""
    if not isinstance(in_types, (list, tuple)):
        in_types = [in_types] * len(args)
    attrs = attrs or {}
    if name == "where":
        return _sel(kb, *args)
    if name == "cast":
        sat = attrs.get("saturate")
        return cast(kb, args[0], in_types[0], out_type, saturate=True if sat is None else bool(int(sat)),
                    round_mode=str(attrs.get("round_mode") or "up"))
    if name == "identity":
        return args[0]
    if name == "pow":
        return _pow(kb, args[0], args[1], in_types[0], in_types[1], out_type)
    t = in_types[0]
    if name in _FCMP:
        a, b = args
        if is_float(t):
            return _cmpf(kb, to_compute(kb, a, t), to_compute(kb, b, t), _FCMP[name])
        return _cmpi(kb, a, b, (_UCMP if is_unsigned(t) else _SCMP)[name])
    if name in _FLOAT_ONLY_PREDICATES:
        if not is_float(t):
            raise NotLowerable(f"{name} on {t}")
        x = to_compute(kb, args[0], t)
        if name == "is_nan":
            return _isnan(kb, x)
        res = iconst(kb, 0, I1)
        flag = lambda k: int(attrs[k]) if attrs.get(k) is not None else 1  # noqa: E731
        if flag("detect_positive"):
            res = _or(kb, res, _cmpf(kb, x, fconst(kb, float("inf"), x.type), "oeq"))
        if flag("detect_negative"):
            res = _or(kb, res, _cmpf(kb, x, fconst(kb, float("-inf"), x.type), "oeq"))
        return res
    if is_float(t):
        xs = [to_compute(kb, v, tt) for v, tt in zip(args, in_types)]
        ct = xs[0].type
        if len(args) == 1:
            r = float_unary(kb, name, xs[0], attrs, ct)
        elif len(args) == 2:
            r = float_binary(kb, name, xs[0], xs[1], attrs, ct)
        else:
            raise NotLowerable(name)
        return from_compute(kb, r, out_type)
    if is_bool(t):
        if name == "not" or (name == "bitwise_not" and len(args) == 1):
            return _not(kb, args[0])
        if len(args) == 2 and name in ("and", "or", "xor", "bitwise_and", "bitwise_or", "bitwise_xor"):
            return int_binary(kb, name, args[0], args[1], attrs, t)
        if len(args) == 2 and name in ("max", "min"):
            return int_binary(kb, name, args[0], args[1], attrs, t)
        raise NotLowerable(f"{name} on {t}")
    if is_int(t):
        if len(args) == 1:
            r = int_unary(kb, name, args[0], attrs, t)
            if r is None:  # float math on integers: in float64, truncated back (reference)
                x = int_to_float(kb, args[0], t, B.f64)
                r = float_to_int(kb, float_unary(kb, name, x, attrs, B.f64), out_type)
                return r
        else:
            r = int_binary(kb, name, args[0], args[1], attrs, t)
            if r is None:
                raise NotLowerable(f"{name} on {t}")
        return normalize_subbyte(kb, r, t) if is_subbyte(t) else r
    raise NotLowerable(f"{name} on {t}")
