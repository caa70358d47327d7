"""Reductions, arg-max/min and cum-sum compiled for llvm-cpu, checked against the reference
interpreter: every op, several axis sets (none, one, several, all, an empty extent),
keepdims, float and integer types (sums wrap, the integer mean truncates), NaN and ties."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as TP

from difftest import NP, Graph, check

RNG = np.random.default_rng(3)


@pytest.fixture(autouse=True)
def _same_values_in_any_order():
    """Each test draws the same random values whatever runs before it (xdist, -k)."""
    global RNG
    RNG = np.random.default_rng(3)
NAMES = {v: TP.DataType.Name(v).lower() for v in NP}
REDUCE = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
          "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]
# (tag, axes, keepdims): one, several (with a negative axis), all (no axes input), none (noop)
CONFIGS = [("a1", [1], 0), ("a1", [1], 1), ("a02", [0, -1], 1), ("all", None, 0), ("none", [], 1)]
_TOL = {TP.FLOAT: (1e-5, 1e-6), TP.DOUBLE: (1e-12, 1e-12), TP.FLOAT16: (2e-3, 1e-4), TP.BFLOAT16: (1.6e-2, 1e-3)}


def _out_shape(shape, axes, keep):
    if axes is None:
        axes = list(range(len(shape)))
    axes = [a % len(shape) for a in axes]
    if axes == [] and keep:
        return list(shape)
    return [1 if i in axes else d for i, d in enumerate(shape) if keep or i not in axes]


def _reduce_graph(t: int, x: np.ndarray, ops) -> Graph:
    g = Graph()
    g.input("x", x)
    g.input("empty", np.zeros((2, 0, 3), NP[t]))
    for op in ops:
        for tag, axes, keep in CONFIGS:
            ins = ["x"]
            attrs = {"keepdims": keep}
            if axes is not None:
                ins.append(g.const(f"ax_{op}_{tag}_{keep}", np.array(axes, np.int64)))
                if axes == []:
                    attrs["noop_with_empty_axes"] = 1
            g.node(op, ins, f"{op}_{tag}_{keep}", t, _out_shape(x.shape, axes, keep), **attrs)
        ax = g.const(f"ax_{op}_empty", np.array([1], np.int64))
        g.node(op, ["empty", ax], f"{op}_emptyextent", t, [2, 1, 3])
    return g


@pytest.mark.parametrize("t", [TP.FLOAT, TP.DOUBLE, TP.FLOAT16, TP.BFLOAT16], ids=NAMES.get)
def test_reduce_float(t):
    x = RNG.normal(0, 1.5, (3, 4, 5))
    x[0, 1, 2] = np.nan
    x[2, 3, 0] = np.inf
    x[1, 0, 4] = -np.inf
    x[2, 2, :] = -np.inf  # LogSumExp of an all -inf row: shifted by 0, not by -inf
    check(_reduce_graph(t, x.astype(NP[t]), REDUCE), default=_TOL[t])


@pytest.mark.parametrize("t", [TP.INT8, TP.INT32, TP.UINT8, TP.UINT64], ids=NAMES.get)
def test_reduce_int(t):
    info = np.iinfo(NP[t])
    x = RNG.integers(max(info.min, -120), min(info.max, 120), (3, 4, 5), endpoint=True)
    x = x.astype(NP[t])
    x[0, 0, :2] = [info.max, info.min]  # sums and products wrap
    if info.min < 0:  # a negative sum: the mean truncates toward zero
        x[1, 2, :] = [-7, -1, -2, 3, -4]
    ops = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceSumSquare"]
    g = _reduce_graph(t, x, ops)
    # through float64 and truncated: positive inputs keep the logs defined
    g.input("p", RNG.integers(1, 50, (3, 4, 5)).astype(NP[t]))
    for op in ("ReduceL2", "ReduceLogSum", "ReduceLogSumExp"):
        g.node(op, ["p", g.const(f"axp_{op}", np.array([1], np.int64))], f"{op}_p", t, [3, 1, 5])
    check(g)


def test_reduce_bool():
    x = np.array([[True, False, True], [False, False, False], [True, True, True]])
    g = Graph()
    g.input("x", x)
    g.input("empty", np.zeros((2, 0), bool))
    for op in ("ReduceMax", "ReduceMin"):
        g.node(op, ["x", g.const(f"a_{op}", np.array([1], np.int64))], f"{op}", TP.BOOL, [3, 1])
        g.node(op, ["empty", g.const(f"e_{op}", np.array([1], np.int64))], f"{op}_empty", TP.BOOL, [2, 1])
    check(g)


@pytest.mark.parametrize("t", [TP.FLOAT, TP.FLOAT16, TP.BFLOAT16, TP.INT32, TP.UINT8], ids=NAMES.get)
def test_arg_max_min(t):
    x = RNG.integers(0, 4, (3, 4, 5)).astype(NP[t])  # many ties
    if np.dtype(NP[t]).kind == "f" or t == TP.BFLOAT16:
        x[1, 2, 3] = np.nan
        x[1, 2, 0] = np.nan
        x[0, 0, 0] = -np.inf
    g = Graph()
    g.input("x", x)
    for op in ("ArgMax", "ArgMin"):
        for axis in (0, -1):
            for keep in (0, 1):
                for last in (0, 1):
                    shape = [1 if i == axis % 3 else d for i, d in enumerate(x.shape) if keep or i != axis % 3]
                    g.node(op, ["x"], f"{op}_{axis}_{keep}_{last}", TP.INT64, shape, axis=axis, keepdims=keep,
                           select_last_index=last)
    check(g)


@pytest.mark.parametrize("t", [TP.FLOAT, TP.DOUBLE, TP.FLOAT16, TP.INT32, TP.UINT8], ids=NAMES.get)
def test_cum_sum(t):
    x = RNG.integers(-50, 50, (3, 4, 5)) if np.dtype(NP[t]).kind == "i" else RNG.integers(0, 120, (3, 4, 5))
    x = x.astype(NP[t])
    if np.dtype(NP[t]).kind == "f":
        x = (x * 0.37).astype(NP[t])
    g = Graph()
    g.input("x", x)
    for axis in (0, -2):
        ax = g.const(f"axis{axis}", np.array(axis, np.int64))
        for exclusive in (0, 1):
            for reverse in (0, 1):
                g.node("CumSum", ["x", ax], f"cs_{axis}_{exclusive}_{reverse}", t, x.shape, exclusive=exclusive,
                       reverse=reverse)
    check(g, default=_TOL.get(t, (0.0, 0.0)))
