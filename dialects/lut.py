"""lut — LUT-based mixed-precision matmul: activation tables and bit-serial table lookups.

    %t, %ts = lut.precompute(%x) {K = 256 : i64, form = "signed", table_type = "i8", act_group = 64 : i64}
                : (tensor<4x256xf32>) -> (tensor<4x64x16xi8>, tensor<4x4xf32>)
    %y = lut.mpgemm(%t, %ts, %planes, %scales, %zeros)
           {K = 256 : i64, N = 512 : i64, bits = 2 : i64, group = 128 : i64, act_group = 64 : i64, form = "signed"}
           : (tensor<4x64x16xi8>, tensor<4x4xf32>, tensor<2x512x64xui8>, tensor<512x2xf32>, tensor<512x2xf32>)
             -> tensor<4x512xf32>

The exact semantics (what the reference interpreter computes, bit for bit) are in docs/lut.md §2:
`lut.precompute` turns each group of 4 activations into a table of its 2^4 signed sums (or
the 8-entry `half` table), optionally quantized to int8 with one scale per activation group;
`lut.mpgemm` looks the weights' bit-planes up in those tables, shifts and adds, corrects for the
zero points and applies the scales. The ops are target-neutral: the reference interpreter
(backends/reference/kernels/lut.py), the CPU backend and the LUT Tensor Core target consume
the same IR. Both ops subclass `TGOp`, so tg passes and the interpreter see ordinary pure ops.

`fuse_producer = 1` on a precompute (set by `lut-mpgemm`) says that the producer of its
activation is an elementwise or normalization op with no other user: a backend may compute
the tables inside that op. It does not change the semantics.
"""

from __future__ import annotations

from xdsl.dialects import builtin as B
from xdsl.ir import Dialect
from xdsl.irdl import irdl_op_definition

from tensorc.dialects.tg.base import Int, Str, TGOp, fail, tt
from tensorc.quant.lowbit import SUPPORTED_BITS, check_layout

#: table forms and their entries per table group
FORMS: dict[str, int] = {"unsigned": 16, "signed": 16, "half": 8}
#: table element types and their IR element types
TABLE_TYPES: dict[str, B.IntegerType | B.Float32Type] = {"f32": B.f32, "i16": B.i16, "i8": B.i8}
UI8 = B.IntegerType(8, B.Signedness.UNSIGNED)


def entries(form: str) -> int:
    """Entries per table group of a table form (16, or 8 for `half`)."""
    return FORMS[form]


def table_groups(k: int) -> int:
    """K4 = ceil(K / 4): the number of 4-activation table groups."""
    return -(-k // 4)


def act_groups(k: int, act_group: int) -> int:
    """ceil(K / act_group): the number of table scales per row."""
    return -(-k // act_group)


def table_type_of(elem) -> str | None:
    """`f32` / `i16` / `i8` for a table tensor's element type, None if it is none of them."""
    for name, t in TABLE_TYPES.items():
        if elem == t:
            return name
    return None


def _check_form(op: TGOp) -> str:
    form = op.attr("form")
    if form not in FORMS:
        fail(op, f"form '{form}' is not one of {', '.join(FORMS)}")
    return form


def _check_act_group(op: TGOp) -> int:
    ag = op.attr("act_group")
    if ag <= 0 or ag % 4:
        fail(op, f"act_group = {ag} must be a positive multiple of 4")
    return ag


@irdl_op_definition
class PrecomputeOp(TGOp):
    """Activation tables: per row m and group j of 4 activations, the 16 (or 8) signed sums."""

    name = "lut.precompute"
    OPERANDS = (1, 1)
    RESULTS = (2, 2)
    ATTRS = {"K": Int(), "form": Str(), "table_type": Str(), "act_group": Int(), "fuse_producer": Int(0)}

    @staticmethod
    def of(x, k: int, form: str, table_type: str, act_group: int, fuse_producer: bool = False,
           src: str | None = None) -> "PrecomputeOp":
        attrs = {"K": k, "form": form, "table_type": table_type, "act_group": act_group}
        if fuse_producer:
            attrs["fuse_producer"] = 1
        return PrecomputeOp.make([x], attrs, src=src)

    @property
    def tables(self):
        return self.outputs[0]

    @property
    def tscales(self):
        return self.outputs[1]

    def infer(self, ins, num_results=None):
        (a,) = ins
        k = self.attr("K")
        form = _check_form(self)
        ag = _check_act_group(self)
        ttype = self.attr("table_type")
        if ttype not in TABLE_TYPES:
            fail(self, f"table_type '{ttype}' is not one of {', '.join(TABLE_TYPES)}")
        if self.attr("fuse_producer") not in (0, 1):
            fail(self, f"fuse_producer must be 0 or 1, got {self.attr('fuse_producer')}")
        shape = list(a.get_shape())
        if k <= 0:
            fail(self, f"K = {k} must be positive")
        if not shape or shape[-1] != k:
            fail(self, f"activation shape {shape} does not end in K = {k}")
        if a.element_type not in (B.f32, B.i8):
            fail(self, f"activations must be f32 or i8, got {a.element_type}")
        if ttype == "i16" and a.element_type != B.i8:
            fail(self, "table_type i16 needs i8 activations (it is exact only for them: |T| <= 512)")
        m = 1
        for d in shape[:-1]:
            m *= d
        return [tt([m, table_groups(k), entries(form)], TABLE_TYPES[ttype]), tt([m, act_groups(k, ag)], B.f32)]


@irdl_op_definition
class MpGemmOp(TGOp):
    """y[m, n] = Σ_k a[m, k] · W[n, k] from the tables of `a` and the bit-planes of W's codes."""

    name = "lut.mpgemm"
    OPERANDS = (5, 5)
    ATTRS = {"K": Int(), "N": Int(), "bits": Int(), "group": Int(), "act_group": Int(), "form": Str()}

    @staticmethod
    def of(tables, tscales, planes, scales, zeros, *, k: int, n: int, bits: int, group: int, act_group: int,
           form: str, src: str | None = None) -> "MpGemmOp":
        return MpGemmOp.make([tables, tscales, planes, scales, zeros],
                             {"K": k, "N": n, "bits": bits, "group": group, "act_group": act_group,
                              "form": form}, src=src)

    def infer(self, ins, num_results=None):
        tables, tscales, planes, scales, zeros = ins
        k, n, bits, group = (self.attr(a) for a in ("K", "N", "bits", "group"))
        form = _check_form(self)
        ag = _check_act_group(self)
        if bits not in SUPPORTED_BITS:
            fail(self, f"unsupported bit width {bits} (supported: {', '.join(map(str, SUPPORTED_BITS))})")
        try:
            check_layout(n, k, bits, group, scales.get_shape(), zeros.get_shape())
        except ValueError as e:
            fail(self, str(e))
        if group % 4:
            fail(self, f"group = {group} must be a multiple of 4")
        if group % ag and ag % group:
            fail(self, f"group = {group} and act_group = {ag}: one must divide the other")
        for what, t in (("scales", scales), ("zero points", zeros), ("table scales", tscales)):
            if t.element_type != B.f32:
                fail(self, f"{what} must be f32, got {t.element_type}")
        k4 = table_groups(k)
        ts = list(tables.get_shape())
        if len(ts) != 3 or ts[1:] != [k4, entries(form)]:
            fail(self, f"tables have shape {ts}, expected [M, {k4}, {entries(form)}] (form {form}, K = {k})")
        if table_type_of(tables.element_type) is None:
            fail(self, f"tables must be f32, i16 or i8, got {tables.element_type}")
        m = ts[0]
        want = [m, act_groups(k, ag)]
        if list(tscales.get_shape()) != want:
            fail(self, f"table scales have shape {list(tscales.get_shape())}, expected {want}")
        if planes.element_type != UI8:
            fail(self, f"planes must be ui8 (one 4-bit index per byte), got {planes.element_type}")
        if list(planes.get_shape()) != [bits, n, k4]:
            fail(self, f"planes have shape {list(planes.get_shape())}, expected {[bits, n, k4]} (bits × N × K/4)")
        return [tt([m, n], B.f32)]


OPS = {"precompute": PrecomputeOp, "mpgemm": MpGemmOp}

LUT = Dialect("lut", [PrecomputeOp, MpGemmOp], [])

__all__ = ["LUT", "OPS", "PrecomputeOp", "MpGemmOp", "FORMS", "TABLE_TYPES", "UI8", "entries", "table_groups",
           "act_groups", "table_type_of"]
