"""lut-mpgemm: low-bit weight matmuls (`tg.matmul_nbits`) → `lut.precompute` + `lut.mpgemm`.

    -p 'lut-mpgemm'                                        # form=signed table-type=i8 act-group=64
    -p 'lut-mpgemm{form=unsigned table-type=f32 act-group=128}'

Every `tg.matmul_nbits` whose shapes allow it (K a multiple of 4; its group G and `act-group`
multiples of 4 with one dividing the other; codes known at compile time) becomes

    %t, %ts = lut.precompute(%x) {...}        one per activation, shared by all its readers
    %y      = lut.mpgemm(%t, %ts, %planes, %scales, %zeros) {...}   (+ tg.reshape back to [..., N])

with the weight bit-planes computed here, at compile time, into the WeightStore
(`<codes>.planes`, uint8[bits, N, K/4], `tensorc.quant.lut.planes_from_codes`). Codes given as
a `tg.constant` give planes as a `tg.constant`. Matmuls reading the same activation (Q, K, V
projections) share one precompute. The precompute is marked `fuse_producer` when its activation
comes from an elementwise or normalization op that has no other user, so a backend may build the
tables inside that op.

Ops that stay `tg.matmul_nbits` get a remark on stderr (`remark: lut-mpgemm: ...`; also
`last_remarks()`) saying why — e.g. under `tensorc opt`, which has no WeightStore, codes in a
`tg.weight` cannot be read, so nothing reading them is rewritten. `report=true` also prints
one line per precompute. Semantics and numerics: docs/lut.md.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import builtin as B
from xdsl.ir import Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from tensorc.diagnostics import PassError
from tensorc.dialects import dtypes
from tensorc.dialects.lut import MpGemmOp, PrecomputeOp
from tensorc.dialects.tg import ConstantOp, TGOp, WeightOp
from tensorc.dialects.tg.elementwise import OPS as ELEMENTWISE
from tensorc.dialects.tg.lowbit import MatMulNBitsOp
from tensorc.dialects.tg.shape import ReshapeOp
from tensorc.quant.lowbit import unpack_codes
from tensorc.quant.lut import planes_from_codes

from .weights import current_weights, operand_array

_LAST_REMARKS: list[str] = []
_LAST_REPORT: list[str] = []

#: producers a table precompute may be fused into: elementwise ops and normalizations
_FUSIBLE = {f"tg.{name}" for name in ELEMENTWISE} | {
    "tg.layer_normalization", "tg.rms_normalization", "tg.batch_normalization", "tg.instance_normalization",
    "tg.group_normalization", "tg.lp_normalization", "tg.mean_variance_normalization", "tg.skip_layer_normalization",
    "tg.simplified_layer_normalization", "tg.skip_simplified_layer_normalization",
}


def last_remarks() -> list[str]:
    """The remarks of the last run (ops left alone and why)."""
    return list(_LAST_REMARKS)


def last_report() -> list[str]:
    """The report lines of the last run (one per precompute)."""
    return list(_LAST_REPORT)


def remark(sink: list[str], pass_name: str, op: Operation, why: str) -> None:
    """Record and print (stderr) why `op` was left as it is."""
    where = op.where() if isinstance(op, TGOp) else op.name
    line = f"remark: {pass_name}: {where}: left as it is: {why}"
    sink.append(line)
    print(line, file=sys.stderr)


def materialize(array: np.ndarray, stem: str, store, like: SSAValue, hint: str | None) -> SSAValue:
    """`array` as a new tg.weight in `store` (or a tg.constant when `like` is a constant or there
    is no store), inserted right after `like`'s definition, so it dominates every reader of `like`."""
    array = np.ascontiguousarray(array)
    if store is not None and not isinstance(like.owner, ConstantOp):
        new = WeightOp(store.add_unique(stem, array), dtypes.tensor_type(array.shape, array.dtype))
    else:
        new = ConstantOp.from_array(array)
    if hint:
        new.results[0].name_hint = hint
    Rewriter.insert_op(new, InsertPoint.after(like.owner))
    return new.results[0]


def erase_if_dead(op) -> None:
    """Erase a tg.weight / tg.constant nothing uses any more."""
    if isinstance(op, (WeightOp, ConstantOp)) and op.parent is not None and not any(True for _ in op.results[0].uses):
        op.detach()
        op.erase()


def _stem(codes: SSAValue, fallback: str) -> str:
    op = codes.owner
    name = op.weight_name if isinstance(op, WeightOp) else fallback
    return (name.removesuffix(".codes") if name.endswith(".codes") else name) + ".planes"


def _after_definition(x: SSAValue) -> InsertPoint:
    """Right after x is defined: it then dominates every reader of x."""
    if isinstance(x.owner, Block):
        block = x.owner
        return InsertPoint.at_start(block)
    return InsertPoint.after(x.owner)


@dataclass(frozen=True)
class LutMpGemm(ModulePass):
    """Rewrite tg.matmul_nbits into a shared lut.precompute + lut.mpgemm (planes computed at compile time)."""

    name = "lut-mpgemm"

    form: str = "signed"
    table_type: str = "i8"
    act_group: int = 64
    report: bool = False

    def _check_options(self) -> None:
        if self.form not in ("signed", "unsigned"):
            hint = " (half tables come from lut-symmetrize)" if self.form == "half" else ""
            raise PassError(f"lut-mpgemm: form={self.form} is not signed or unsigned{hint}")
        if self.table_type not in ("i8", "f32"):
            why = " (i16 tables are exact only for i8 activations; tg.matmul_nbits takes f32)" \
                if self.table_type == "i16" else ""
            raise PassError(f"lut-mpgemm: table-type={self.table_type} is not i8 or f32{why}")
        if self.act_group <= 0 or self.act_group % 4:
            raise PassError(f"lut-mpgemm: act-group={self.act_group} must be a positive multiple of 4")

    def _why_not(self, mm: MatMulNBitsOp, store) -> str | None:
        k, g = mm.attr("K"), mm.attr("block_size")
        ag = self.act_group
        if k % 4:
            return f"K = {k} is not a multiple of 4 (tables hold groups of 4 activations)"
        if g % 4:
            return f"group {g} is not a multiple of 4"
        if g % ag and ag % g:
            return f"group {g} and act-group {ag}: neither divides the other"
        if operand_array(mm.inputs[1], store) is None:
            if isinstance(mm.inputs[1].owner, WeightOp):
                return ("the codes are a tg.weight and there is no weight store here (tensorc opt): "
                        "run the pass through tensorc import/run/compile or tensorc.lower")
            return "the codes are not a compile-time constant"
        return None

    def apply(self, ctx: Context, module: B.ModuleOp) -> None:
        self._check_options()
        store = current_weights()
        _LAST_REMARKS.clear()
        _LAST_REPORT.clear()
        groups: dict[SSAValue, list[MatMulNBitsOp]] = {}
        for op in list(module.walk()):
            if not isinstance(op, MatMulNBitsOp):
                continue
            why = self._why_not(op, store)
            if why is not None:
                remark(_LAST_REMARKS, self.name, op, why)
                continue
            groups.setdefault(op.inputs[0], []).append(op)
        planes_cache: dict[SSAValue, SSAValue] = {}
        for x, readers in groups.items():
            self._rewrite_group(x, readers, store, planes_cache)
        for v in list(planes_cache):
            erase_if_dead(v.owner)

    def _rewrite_group(self, x: SSAValue, readers: list[MatMulNBitsOp], store, planes_cache) -> None:
        k = readers[0].attr("K")
        xshape = list(dtypes.shape_of(x.type))
        producer = x.owner
        # legal when, after the rewrite, the tables are all the producer computes for anyone
        fused = (isinstance(producer, Operation) and producer.name in _FUSIBLE
                 and all(use.operation in readers for use in x.uses)
                 and not any(True for r in producer.results if r is not x for _ in r.uses))
        pc = PrecomputeOp.of(x, k, self.form, self.table_type, self.act_group, fused, src=readers[0].src)
        if x.name_hint:
            pc.tables.name_hint, pc.tscales.name_hint = f"{x.name_hint}_tables", f"{x.name_hint}_tscales"
        Rewriter.insert_op(pc, _after_definition(x))
        m = math.prod(xshape[:-1])
        names = ", ".join(r.src or "?" for r in readers)
        for mm in readers:
            n, bits, g = mm.attr("N"), mm.attr("bits"), mm.attr("block_size")
            codes_v, scales_v, zeros_v = mm.inputs[1], mm.inputs[2], mm.inputs[3]
            planes_v = planes_cache.get(codes_v)
            if planes_v is None:
                codes = unpack_codes(operand_array(codes_v, store), k, bits)
                planes = planes_from_codes(codes, bits, self.form)
                hint = f"{codes_v.name_hint}_planes" if codes_v.name_hint else None
                planes_v = materialize(planes, _stem(codes_v, f"{mm.src or 'matmul_nbits'}"), store, codes_v, hint)
                planes_cache[codes_v] = planes_v
            mp = MpGemmOp.of(pc.tables, pc.tscales, planes_v, scales_v, zeros_v, k=k, n=n, bits=bits, group=g,
                             act_group=self.act_group, form=self.form, src=mm.src)
            Rewriter.insert_op(mp, InsertPoint.before(mm))
            y = mp.outputs[0]
            out_shape = xshape[:-1] + [n]
            if out_shape != [m, n]:
                rs = ReshapeOp.make([y], {"shape": out_shape}, src=mm.src)
                Rewriter.insert_op(rs, InsertPoint.before(mm))
                y = rs.outputs[0]
            y.name_hint = mm.outputs[0].name_hint
            mm.outputs[0].replace_all_uses_with(y)
            mm.detach()
            mm.erase()
            erase_if_dead(codes_v.owner)
        line = (f"{self.name}: {pc.where()}: {len(readers)} reader(s) "
                f"({names}), tables {m}x{k // 4}x16x{self.table_type}"
                + (f", fused into {producer.name}" if fused else ""))
        _LAST_REPORT.append(line)
        if self.report:
            print(line, file=sys.stderr)


__all__ = ["LutMpGemm", "last_remarks", "last_report", "remark", "static_value", "materialize", "erase_if_dead"]
