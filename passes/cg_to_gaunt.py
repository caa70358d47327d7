"""Pass `cg-to-gaunt`: rewrite eqv.cg_tp into exact rescaled Gaunt products where legal and faster.

For each `eqv.cg_tp` the analysis (`tensorc.eqv.legality.analyze`) checks, exactly:
constant weights; channelwise structure; single-entry irreps per degree; the masked CP
rank R of K/g over the complete even support. Then:

- no odd path, R = 1            → one `eqv.gaunt_tp` (the papers' rewrite),
- no odd path, 1 < R <= max-rank → one `eqv.gaunt_tp` of rank R (a sum of R products),
- odd paths (e.g. 1o x 1o -> 1e) → with `hybrid`, `eqv.gaunt_tp` for the even paths plus a
  residual `eqv.cg_tp` of the odd paths, added,

each only when the cost model (`tensorc.eqv.cost`) says it is cheaper than the CG product
(`force=true` skips that check). Otherwise the op stays and the reason is recorded.
`report=true` prints every op's decision and costs to stderr.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects import builtin as B
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass

from tensorc.dialects import dtypes
from tensorc.dialects.eqv import CGTensorProductOp, GauntTensorProductOp
from tensorc.dialects.tg import ConstantOp, WeightOp, op_class
from tensorc.eqv import legality
from tensorc.eqv import reference as R
from tensorc.eqv.irreps import Irreps
from tensorc.passes.weights import operand_array
from tensorc.passes.weights import current_weights

LAST_REPORT: list[str] = []  # the lines of the last run's report (for tools and tests)


def decide(op: CGTensorProductOp, store, max_rank=4, hybrid=True, force=False) -> legality.Analysis:
    i1, i2, io = op.attr("irreps_in1"), op.attr("irreps_in2"), op.attr("irreps_out")
    paths = op.attr("paths")
    w = None
    if len(op.inputs) == 3:
        w = operand_array(op.inputs[2], store)
        if w is None:
            an = legality.Analysis("refuse")
            an.reasons.append("the weights are not compile-time constants")
            return an
    # weights stored in float32 are rank-R only up to their rounding: accept that, no more
    tol = legality.TOL if w is None or np.asarray(w).dtype == np.float64 else 16 * float(np.finfo(np.asarray(w).dtype).eps)
    return legality.analyze(i1, i2, io, paths, w, max_rank=max_rank, hybrid=hybrid, force=force, tol=tol)


@dataclass(frozen=True)
class CgToGaunt(ModulePass):
    """Rewrite eqv.cg_tp into exact (rank-R, hybrid) Gaunt products when legal and cheaper."""

    name = "cg-to-gaunt"

    max_rank: int = 4
    hybrid: bool = True
    force: bool = False
    report: bool = False
    method: str = "grid"

    def apply(self, ctx: Context, module: B.ModuleOp) -> None:
        store = current_weights()
        LAST_REPORT.clear()
        for k, op in enumerate([o for o in module.walk() if isinstance(o, CGTensorProductOp)]):
            an = decide(op, store, self.max_rank, self.hybrid, self.force)
            i1, i2, io = op.attr("irreps_in1"), op.attr("irreps_in2"), op.attr("irreps_out")
            line = f"cg-to-gaunt: {op.where()} [{i1} x {i2} -> {io}, {len(op.attr('paths'))} paths]: {an.summary()}"
            LAST_REPORT.append(line)
            if self.report:
                print(line, file=sys.stderr)
            if an.decision in ("gaunt", "hybrid"):
                _rewrite(op, an, store, self.method, f"gaunt{k}")


def _const(arr: np.ndarray, store, stem: str, elem_dtype):
    arr = np.ascontiguousarray(np.asarray(arr, dtype=elem_dtype))
    if store is None or arr.size <= 64:
        return ConstantOp.from_array(arr)
    name = store.add_unique(stem, arr)
    return WeightOp(name, dtypes.tensor_type(arr.shape, arr.dtype))


def _rewrite(op: CGTensorProductOp, an: legality.Analysis, store, method: str, stem: str) -> None:
    i1, i2, io = op.attr("irreps_in1"), op.attr("irreps_in2"), op.attr("irreps_out")
    paths = op.attr("paths")
    npdt = dtypes.dtype_of(op.outputs[0].type)
    new_ops = []

    def emit(o):
        new_ops.append(o)
        return o.results[0]

    x1, x2 = SSAValue.get(op.inputs[0]), SSAValue.get(op.inputs[1])
    j1, j2 = i1, i2
    for which, cmap in (("1", an.u_map), ("2", an.v_map)):
        if cmap is None:
            continue
        irr = i1 if which == "1" else i2
        x = x1 if which == "1" else x2
        idx = []
        for off, e in zip(irr.offsets(), irr):
            for w in range(len(cmap)):
                idx.extend(off + cmap[w] * e.ir.dim + np.arange(e.ir.dim))
        rank_x = len(x.type.get_shape())
        iv = emit(_const(np.array(idx, dtype=np.int64), store, f"{stem}.chan{which}", np.int64))
        g = emit(op_class("gather").make([x, iv], {"axis": rank_x - 1}))
        new_irr = Irreps([(len(cmap), e.ir) for e in irr])
        if which == "1":
            x1, j1 = g, new_irr
        else:
            x2, j2 = g, new_irr
    a = emit(_const(an.a, store, f"{stem}.a", npdt))
    b = emit(_const(an.b, store, f"{stem}.b", npdt))
    c = emit(_const(an.c, store, f"{stem}.c", npdt))
    src = op.src
    out = emit(GauntTensorProductOp.make_op([x1, x2, a, b, c], {"irreps_in1": j1, "irreps_in2": j2, "irreps_out": io, "method": method}, src=src))
    if an.residual:
        res_paths = [p for _, p in an.residual]
        operands = [op.inputs[0], op.inputs[1]]
        if any(p.has_weight for p in res_paths):
            full = operand_array(op.inputs[2], store)
            ws = R.split_weights(paths, i1, i2, io, full)
            flat = np.concatenate([ws[k].reshape(-1) for k, p in an.residual if p.has_weight])
            operands.append(emit(_const(flat, store, f"{stem}.residual_w", npdt)))
        resid = emit(CGTensorProductOp.make_op(operands, {"irreps_in1": i1, "irreps_in2": i2, "irreps_out": io, "paths": res_paths}, src=src))
        out = emit(op_class("add").make([out, resid]))
    op.parent.insert_ops_before(new_ops, op)
    op.outputs[0].replace_all_uses_with(out)
    op.detach()
    op.erase()
