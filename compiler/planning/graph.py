"""The operator graph the memory planner works on.

A tg function becomes a list of operators and a list of tensors with byte
sizes. Operators are atomic (one per time step, never tiled), so an operator's
inputs and outputs must all be in the scratchpad while it runs; the largest
such working set is M_R, the smallest scratchpad any plan can use.

Tensors the planner manages:
  - activations: results of operators;
  - graph inputs (function arguments): they start in DRAM, reading them once
    is compulsory traffic;
  - weights and constants (`tg.weight`, `tg.constant`), only with
    `weights=True`: they behave like graph inputs. One-element constants are
    left out: an accelerator takes a scalar as an instruction immediate.
Graph outputs are written back to DRAM once, right after they are created
(compulsory traffic); after that they have a DRAM copy like a spilled tensor.

Sizes default to one byte per element (`elem_bytes=1`, the paper's 8-bit
data); `elem_bytes=None` uses each tensor's own dtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

import networkx as nx
import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import TensorType
from xdsl.ir import SSAValue

from tensorc.diagnostics import PassError

from tensorc.dialects import dtypes

# Tensor kinds
ACTIVATION = "activation"
INPUT = "input"
WEIGHT = "weight"


@dataclass
class Tensor:
    id: int
    name: str
    size: int  # bytes
    kind: str  # ACTIVATION | INPUT | WEIGHT
    producer: int | None = None  # operator id; None for inputs and weights
    consumers: list[int] = field(default_factory=list)  # distinct operator ids, ascending
    is_output: bool = False  # returned by the function

    @property
    def in_dram_at_start(self) -> bool:
        """Graph inputs and weights live in DRAM before the program runs."""
        return self.kind != ACTIVATION


@dataclass
class Operator:
    id: int  # position in the function body (the default order)
    kind: str  # op name, e.g. "tg.conv"
    src: str | None  # ONNX node name (or torch source) when known
    inputs: list[int]  # distinct managed tensor ids
    outputs: list[int]

    def describe(self) -> str:
        return f"{self.kind}" + (f" (node '{self.src}')" if self.src else f" #{self.id}")


class Graph:
    """Operators in their default (program) order, tensors, and the dependence DAG."""

    def __init__(self, ops: list[Operator], tensors: list[Tensor], name: str = "graph"):
        self.ops = ops
        self.tensors = tensors
        self.name = name
        # values of the IR behind each tensor / op (set by from_func; None for synthetic graphs)
        self.values: list[SSAValue] | None = None
        self.ir_ops: list | None = None

    # ---- structure ---------------------------------------------------------
    @property
    def n_ops(self) -> int:
        return len(self.ops)

    @cached_property
    def dag(self) -> nx.DiGraph:
        """Operators as nodes; an edge producer -> consumer per activation they share."""
        g = nx.DiGraph()
        g.add_nodes_from(range(self.n_ops))
        for t in self.tensors:
            if t.producer is not None:
                for c in t.consumers:
                    g.add_edge(t.producer, c)
        return g

    @cached_property
    def preds(self) -> list[list[int]]:
        return [sorted(self.dag.predecessors(i)) for i in range(self.n_ops)]

    @cached_property
    def succs(self) -> list[list[int]]:
        return [sorted(self.dag.successors(i)) for i in range(self.n_ops)]

    def default_order(self) -> list[int]:
        return list(range(self.n_ops))

    def is_topological(self, order: list[int]) -> bool:
        pos = {o: i for i, o in enumerate(order)}
        if sorted(pos) != list(range(self.n_ops)) or len(order) != self.n_ops:
            return False
        return all(pos[u] < pos[v] for u, v in self.dag.edges)

    # ---- sizes ------------------------------------------------------------
    def working_set(self, op: int) -> int:
        """Bytes of the op's distinct inputs and outputs: what must be resident while it runs."""
        o = self.ops[op]
        return sum(self.tensors[a].size for a in set(o.inputs) | set(o.outputs))

    @cached_property
    def m_r(self) -> int:
        """M_R: the largest single-operator working set (the smallest usable scratchpad)."""
        return max((self.working_set(i) for i in range(self.n_ops)), default=0)

    @cached_property
    def m_r_op(self) -> int:
        """The operator whose working set is M_R (the first one, if several)."""
        return max(range(self.n_ops), key=lambda i: (self.working_set(i), -i))

    @cached_property
    def compulsory_traffic(self) -> int:
        """Reading every consumed input/weight once plus writing every output once."""
        reads = sum(t.size for t in self.tensors if t.in_dram_at_start and t.consumers)
        writes = sum(t.size for t in self.tensors if t.is_output and not t.in_dram_at_start)
        return reads + writes

    def total_bytes(self) -> int:
        return sum(t.size for t in self.tensors)

    # ---- lifetimes under an order -----------------------------------------
    def positions(self, order: list[int]) -> list[int]:
        """pos[op] = the step at which op runs."""
        pos = [0] * self.n_ops
        for step, op in enumerate(order):
            pos[op] = step
        return pos

    def use_steps(self, order: list[int]) -> list[list[int]]:
        """For each tensor, the ascending steps at which it must be resident (creation and uses)."""
        pos = self.positions(order)
        out = []
        for t in self.tensors:
            steps = {pos[c] for c in t.consumers}
            if t.producer is not None:
                steps.add(pos[t.producer])
            out.append(sorted(steps))
        return out

    def lifetimes(self, order: list[int]) -> list[tuple[int, int] | None]:
        """[first, last] step of each tensor when nothing is spilled (None: never resident).

        An activation lives from its producer to its last consumer; an input or
        weight from its first to its last consumer (it is read from DRAM when
        first needed). An output without consumers lives only at its creation
        step: it is written back right away.
        """
        return [(s[0], s[-1]) if s else None for s in self.use_steps(order)]

    def live_bytes(self, order: list[int]) -> np.ndarray:
        """Bytes resident at each step of the spill-free plan under `order`."""
        load = np.zeros(self.n_ops + 1, dtype=np.int64)
        for t, lt in zip(self.tensors, self.lifetimes(order)):
            if lt is not None:
                load[lt[0]] += t.size
                load[lt[1] + 1] -= t.size
        return np.cumsum(load)[: self.n_ops]

    def peak(self, order: list[int]) -> int:
        """Peak footprint of the spill-free plan under `order` (no fragmentation)."""
        return int(self.live_bytes(order).max()) if self.n_ops else 0

    # ---- construction --------------------------------------------------------
    @staticmethod
    def from_func(fn: func.FuncOp, elem_bytes: int | None = 1, weights: bool = False, name: str = "main") -> "Graph":
        """The graph of a tg function (its ops in body order are the default order)."""
        from tensorc.dialects.tg import ConstantOp, WeightOp

        tensors: list[Tensor] = []
        by_value: dict[SSAValue, int] = {}
        values: list[SSAValue] = []

        def new_tensor(v: SSAValue, kind: str, producer: int | None, default_name: str) -> int:
            tid = len(tensors)
            tensors.append(Tensor(tid, v.name_hint or default_name, _nbytes(v.type, elem_bytes), kind, producer))
            by_value[v] = tid
            values.append(v)
            return tid

        for i, arg in enumerate(fn.body.block.args):
            new_tensor(arg, INPUT, None, f"arg{i}")

        ops: list[Operator] = []
        ir_ops = []
        returned: list[SSAValue] = []
        for op in fn.body.block.ops:
            if isinstance(op, func.ReturnOp):
                returned = list(op.operands)
                continue
            if isinstance(op, (WeightOp, ConstantOp)):
                # a one-element constant is an instruction immediate, not a tensor in memory
                if weights and _numel(op.results[0].type) > 1:
                    wname = op.weight_name if isinstance(op, WeightOp) else None
                    new_tensor(op.results[0], WEIGHT, None, wname or f"const{len(tensors)}")
                continue
            if not all(isinstance(r.type, TensorType) for r in op.results):
                raise PassError(f"memory planning works on tg graphs of tensors; {op.name} has a non-tensor result")
            oid = len(ops)
            ins = []
            for v in op.operands:
                tid = by_value.get(v)
                if tid is not None and tid not in ins:
                    ins.append(tid)
            outs = [new_tensor(r, ACTIVATION, oid, f"t{len(tensors)}") for r in op.results]
            src = op.attributes.get("src")
            ops.append(Operator(oid, op.name, getattr(src, "data", None), ins, outs))
            ir_ops.append(op)

        for o in ops:
            for tid in o.inputs:
                tensors[tid].consumers.append(o.id)
        for v in returned:
            if v in by_value:
                tensors[by_value[v]].is_output = True
        _unique_names(tensors)
        g = Graph(ops, tensors, name=name)
        g.values, g.ir_ops = values, ir_ops
        return g

    @staticmethod
    def from_program(prog, elem_bytes: int | None = 1, weights: bool = False) -> "Graph":
        return Graph.from_func(prog.main, elem_bytes=elem_bytes, weights=weights)

    @staticmethod
    def synthetic(
        edges: Iterable[tuple[str, list[str], list[str]]],
        sizes: dict[str, int],
        inputs: Iterable[str] = (),
        outputs: Iterable[str] = (),
        weights: Iterable[str] = (),
    ) -> "Graph":
        """A graph from (op name, input tensor names, output tensor names) triples, for tests."""
        tensors: list[Tensor] = []
        by_name: dict[str, int] = {}
        weights = set(weights)
        for n in list(inputs) + sorted(weights):
            by_name[n] = len(tensors)
            tensors.append(Tensor(len(tensors), n, sizes[n], WEIGHT if n in weights else INPUT))
        ops = []
        for oid, (opname, ins, outs) in enumerate(edges):
            out_ids = []
            for n in outs:
                by_name[n] = len(tensors)
                tensors.append(Tensor(len(tensors), n, sizes[n], ACTIVATION, oid))
                out_ids.append(by_name[n])
            in_ids = list(dict.fromkeys(by_name[n] for n in ins))
            ops.append(Operator(oid, opname, opname, in_ids, out_ids))
            for tid in in_ids:
                tensors[tid].consumers.append(oid)
        for n in outputs:
            tensors[by_name[n]].is_output = True
        return Graph(ops, tensors, name="synthetic")

    def summary(self) -> dict:
        return {
            "operators": self.n_ops,
            "tensors": len(self.tensors),
            "M_R": self.m_r,
            "M_R_op": self.ops[self.m_r_op].describe() if self.n_ops else None,
            "compulsory_bytes": self.compulsory_traffic,
        }


def _numel(t) -> int:
    shape = dtypes.shape_of(t)
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _nbytes(t, elem_bytes: int | None) -> int:
    n = _numel(t)
    if elem_bytes is not None:
        return n * elem_bytes
    dt = dtypes.dtype_of(t)
    bits = {"int4": 4, "uint4": 4, "int2": 2, "uint2": 2, "float4_e2m1fn": 4}.get(dt.name, dt.itemsize * 8)
    return (n * bits + 7) // 8


def _unique_names(tensors: list[Tensor]) -> None:
    """Tensor names are keys in the plan JSON: make repeated SSA name hints unique."""
    taken: set[str] = set()
    for t in tensors:
        name, i = t.name, 0
        while name in taken:
            i += 1
            name = f"{t.name}_{i}"
        t.name = name
        taken.add(name)
