"""Writing a checked plan into the IR with the `mem` dialect (see dialects/mem.py).

The function body is rebuilt in plan order:
  tg.weight / tg.constant            first (they live in DRAM or are immediates)
  then, per step t:
    mem.spill     for each tensor the plan spills before step t
    mem.retrieve  for each tensor it reads back (inputs, weights, spilled ones)
    the tg operator, its operands rewired to the scratchpad copies
    mem.place     the offsets of its results
    mem.store     write-back of graph outputs
  func.return of the DRAM copies of the outputs.
Drops need no op: a scratchpad value is resident until its last use.
"""

from __future__ import annotations

from xdsl.dialects import builtin as B
from xdsl.dialects import func

from tensorc.dialects.mem import PlaceOp, RetrieveOp, SpillOp, StoreOp
from tensorc.planning.graph import Graph


def summary_attr(result) -> B.DictionaryAttr:
    """The `mem.plan` attribute: what the plan is and what it costs."""
    plan = result.plan
    b = result.budgets
    i64 = lambda v: B.IntegerAttr(int(v), B.i64)  # noqa: E731
    entries = {
        "mode": B.StringAttr(result.mode),
        "capacity": i64(result.capacity),
        "traffic": i64(plan.traffic),
        "status": B.StringAttr(plan.status),
        "m_r": i64(b.m_r),
        "m_h": i64(b.m_h),
        "m_p": i64(b.m_p),
        "steps": i64(len(plan.order)),
    }
    if getattr(result, "lower_bound", None) is not None:
        entries["traffic_lower_bound"] = i64(result.lower_bound.bytes)
    base = result.best_baseline()
    if base is not None:
        entries["baseline"] = B.StringAttr(base.plan.method)
        entries["baseline_traffic"] = i64(base.report.non_compulsory)
    return B.DictionaryAttr(entries)


def attach_plan(fn: func.FuncOp, graph: Graph, result) -> None:
    """Rewrite `fn` (the function `graph` was built from) to run `result.plan` explicitly."""
    if graph.values is None or graph.ir_ops is None:
        raise ValueError("the graph was not built from IR")
    plan = result.plan
    block = fn.body.block
    value_of = graph.values  # tensor id -> original SSA value
    tid_of = {v: i for i, v in enumerate(value_of)}
    old_ops = list(block.ops)
    ret = old_ops[-1]
    if not isinstance(ret, func.ReturnOp):
        raise ValueError("function body does not end with func.return")
    managed_ops = {id(op) for op in graph.ir_ops}
    prelude = [op for op in old_ops if id(op) not in managed_ops and op is not ret]
    for op in old_ops:
        op.detach()

    new_ops = list(prelude)
    dram = {t.id: value_of[t.id] for t in graph.tensors if t.in_dram_at_start}  # DRAM copies
    cur = {}  # tensor id -> scratchpad value

    for t, st in enumerate(plan.steps):
        before = plan.steps[t - 1].resident if t > 0 else {}
        for a in st.spill:
            op = SpillOp(cur.pop(a), before[a], t)
            new_ops.append(op)
            dram[a] = op.result
        for a in st.drop:
            cur.pop(a, None)
        for a, off in st.retrieve:
            op = RetrieveOp(dram[a], off, t)
            new_ops.append(op)
            cur[a] = op.result
        op = graph.ir_ops[st.op]
        operands = list(op.operands)
        for i, v in enumerate(operands):
            a = tid_of.get(v)
            if a is not None:
                operands[i] = cur[a]
        op.operands = operands
        new_ops.append(op)
        offs = dict(st.create)
        outs = graph.ops[st.op].outputs
        new_ops.append(PlaceOp([value_of[a] for a in outs], [offs[a] for a in outs], t))
        for a in outs:
            cur[a] = value_of[a]
        for a in st.store:
            s = StoreOp(cur[a], st.resident[a], t)
            new_ops.append(s)
            dram[a] = s.result
    ret_operands = [dram.get(tid_of[v], v) if v in tid_of else v for v in ret.operands]
    ret.operands = ret_operands
    new_ops.append(ret)
    block.add_ops(new_ops)
    fn.attributes["mem.plan"] = summary_attr(result)


def reorder(fn: func.FuncOp, graph: Graph, result) -> None:
    """Only put the operators of `fn` in plan order and record the summary; no copy ops."""
    block = fn.body.block
    managed = {id(op) for op in graph.ir_ops}
    old = list(block.ops)
    prelude = [op for op in old if id(op) not in managed and not isinstance(op, func.ReturnOp)]
    ret = old[-1]
    for op in old:
        op.detach()
    block.add_ops(prelude + [graph.ir_ops[o] for o in result.plan.order] + [ret])
    fn.attributes["mem.plan"] = summary_attr(result)
