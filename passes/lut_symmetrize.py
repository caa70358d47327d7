"""lut-symmetrize: `unsigned`/`signed` LUT tables → `half` tables (8 entries), planes index-inverted offline.

    -p 'lut-mpgemm,lut-symmetrize{report=true}'

The signed table of 4 activations is antisymmetric, T[15 − idx] = −T[idx], so only its 8 odd
entries H[m] = T[2m + 1] need storing (LUT Tensor Core's "table symmetrization"). For every
`lut.precompute` whose readers are all `lut.mpgemm` with compile-time planes, this pass

- switches the precompute to `form = "half"` (tables [M, K/4, 8]: half the bytes), and
- re-encodes each reader's planes with the index inversion and sign bit (sel | neg << 3, see
  `tensorc.quant.lut.half_encode`) into new weights `<planes>_half`, and sets its form to `half`.

An `unsigned` precompute becomes `half` too (its readers switch from R = acc − z·S to the signed
correction): on the integer path (integer tables) outputs are bit-identical, since R is the
exact Σ a (q − z) in every form; with quantized (i8) tables the half form is also the more
accurate one. Precomputes it cannot convert (a reader that is not a `lut.mpgemm`, planes not
known at compile time) get a remark on stderr. The report — table bytes before and after, per
precompute and in total — is printed to stderr with `report=true` and kept in `last_report()`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import builtin as B
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import InsertPoint, Rewriter

from tensorc.dialects import dtypes
from tensorc.dialects.lut import MpGemmOp, PrecomputeOp, table_type_of
from tensorc.dialects.tg import WeightOp
from tensorc.quant.lut import symmetrize_planes

from .lut_mpgemm import erase_if_dead, materialize, remark
from .weights import operand_array
from .weights import current_weights

_LAST_REPORT: list[str] = []
_LAST_REMARKS: list[str] = []


def last_report() -> list[str]:
    """The report lines of the last run: table bytes before and after."""
    return list(_LAST_REPORT)


def last_remarks() -> list[str]:
    return list(_LAST_REMARKS)


def _bytes(t) -> int:
    return int(dtypes.dtype_of(t).itemsize) * math.prod(dtypes.shape_of(t))


def _type_text(t) -> str:
    return "x".join(map(str, dtypes.shape_of(t))) + "x" + (table_type_of(t.element_type) or str(t.element_type))


@dataclass(frozen=True)
class LutSymmetrize(ModulePass):
    """Halve LUT table storage: signed/unsigned tables → 8-entry half tables, planes re-encoded offline."""

    name = "lut-symmetrize"

    report: bool = False

    def apply(self, ctx: Context, module: B.ModuleOp) -> None:
        store = current_weights()
        _LAST_REPORT.clear()
        _LAST_REMARKS.clear()
        before_total = after_total = 0
        converted = 0
        half_cache: dict[SSAValue, SSAValue] = {}
        old_planes: set[SSAValue] = set()
        for pc in [o for o in module.walk() if isinstance(o, PrecomputeOp)]:
            size = _bytes(pc.tables.type)
            if pc.attr("form") == "half":
                before_total += size
                after_total += size
                continue
            why = self._why_not(pc, store)
            if why is not None:
                remark(_LAST_REMARKS, self.name, pc, why)
                before_total += size
                after_total += size
                continue
            new = self._rewrite(pc, store, half_cache, old_planes)
            after = _bytes(new.tables.type)
            before_total += size
            after_total += after
            converted += 1
            _LAST_REPORT.append(f"{self.name}: {new.where()}: tables {_type_text(pc.tables.type)} ({size} B) -> "
                                f"{_type_text(new.tables.type)} ({after} B)")
            pc.detach()
            pc.erase()
        for v in old_planes:
            erase_if_dead(v.owner)
        _LAST_REPORT.append(f"{self.name}: table bytes {before_total} -> {after_total} "
                            f"({converted} precompute(s) symmetrized)")
        if self.report:
            for line in _LAST_REPORT:
                print(line, file=sys.stderr)

    def _why_not(self, pc: PrecomputeOp, store) -> str | None:
        for res in pc.results:
            for use in res.uses:
                user = use.operation
                if not isinstance(user, MpGemmOp):
                    return f"its tables are read by {user.name}, which has no half form"
                if operand_array(user.inputs[2], store) is None:
                    if isinstance(user.inputs[2].owner, WeightOp):
                        return (f"the planes of {user.where()} are a tg.weight and there is no weight store "
                                "here (tensorc opt): run the pass through tensorc import/run/compile")
                    return f"the planes of {user.where()} are not a compile-time constant"
        return None

    def _rewrite(self, pc: PrecomputeOp, store, half_cache, old_planes) -> PrecomputeOp:
        attrs = pc.attr_values()
        attrs["form"] = "half"
        new = PrecomputeOp.make([pc.inputs[0]], attrs, src=pc.src)
        new.tables.name_hint, new.tscales.name_hint = pc.tables.name_hint, pc.tscales.name_hint
        Rewriter.insert_op(new, InsertPoint.before(pc))
        readers = list(dict.fromkeys(use.operation for res in pc.results for use in res.uses))
        for mp in readers:
            planes_v = mp.inputs[2]
            half_v = half_cache.get(planes_v)
            if half_v is None:
                half = symmetrize_planes(operand_array(planes_v, store))
                stem = (planes_v.owner.weight_name if isinstance(planes_v.owner, WeightOp) else "planes") + "_half"
                hint = f"{planes_v.name_hint}_half" if planes_v.name_hint else None
                half_v = materialize(half, stem, store, planes_v, hint)
                half_cache[planes_v] = half_v
                old_planes.add(planes_v)
            mattrs = mp.attr_values()
            mattrs["form"] = "half"
            nm = MpGemmOp.make([new.tables, new.tscales, half_v, mp.inputs[3], mp.inputs[4]], mattrs, src=mp.src)
            Rewriter.insert_op(nm, InsertPoint.before(mp))
            nm.outputs[0].name_hint = mp.outputs[0].name_hint
            mp.outputs[0].replace_all_uses_with(nm.outputs[0])
            mp.detach()
            mp.erase()
        return new


__all__ = ["LutSymmetrize", "last_report", "last_remarks"]
