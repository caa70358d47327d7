"""Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare, ArgMax/ArgMin."""

from __future__ import annotations

from ..importer import NodeContext, converter

REDUCE = {
    "ReduceSum": ("reduce_sum", 13), "ReduceMean": ("reduce_mean", 18), "ReduceMax": ("reduce_max", 18),
    "ReduceMin": ("reduce_min", 18), "ReduceProd": ("reduce_prod", 18), "ReduceL1": ("reduce_l1", 18),
    "ReduceL2": ("reduce_l2", 18), "ReduceLogSum": ("reduce_log_sum", 18),
    "ReduceLogSumExp": ("reduce_log_sum_exp", 18), "ReduceSumSquare": ("reduce_sum_square", 18),
}


@converter(*REDUCE)
def reduce(ctx: NodeContext):
    op, axes_input_since = REDUCE[ctx.node.op_type]
    x = ctx.val(0)
    if ctx.opset >= axes_input_since:
        axes = ctx.ints(1, "axes") if ctx.has(1) else []
    else:
        axes = list(ctx.attr("axes", []))
    if not axes:
        if ctx.attr("noop_with_empty_axes", 0):
            return [x]
        axes = list(range(x.rank))
    axes = sorted({a % x.rank for a in axes}) if x.rank else []
    return ctx.emit(op, [x], {"axes": axes, "keepdims": ctx.attr("keepdims", 1)})


@converter("ArgMax", "ArgMin")
def arg_reduce(ctx: NodeContext):
    op = "arg_max" if ctx.node.op_type == "ArgMax" else "arg_min"
    attrs = {"axis": ctx.attr("axis", 0), "keepdims": ctx.attr("keepdims", 1),
             "select_last_index": ctx.attr("select_last_index", 0)}
    return ctx.emit(op, [ctx.val(0)], attrs)
