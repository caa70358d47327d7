"""Differential testing of the llvm-cpu backend against the reference interpreter.

A test builds one ONNX graph with many independent nodes (one compile covers an
op family for one element type), runs it through both targets and compares each
output: integers, bools and the bits of the 8/4-bit formats exactly; floats with
NaNs at the same places, infinities equal, and finite values within `rtol`/`atol`
(`rtol=0` asks for identical values).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import TensorProto as TP, helper

import tensorc

OPSET = 21
NP = {
    TP.FLOAT: np.float32, TP.DOUBLE: np.float64, TP.FLOAT16: np.float16, TP.BFLOAT16: ml_dtypes.bfloat16,
    TP.INT8: np.int8, TP.INT16: np.int16, TP.INT32: np.int32, TP.INT64: np.int64, TP.UINT8: np.uint8,
    TP.UINT16: np.uint16, TP.UINT32: np.uint32, TP.UINT64: np.uint64, TP.BOOL: np.bool_,
    TP.FLOAT8E4M3FN: ml_dtypes.float8_e4m3fn, TP.FLOAT8E4M3FNUZ: ml_dtypes.float8_e4m3fnuz,
    TP.FLOAT8E5M2: ml_dtypes.float8_e5m2, TP.FLOAT8E5M2FNUZ: ml_dtypes.float8_e5m2fnuz,
    TP.FLOAT4E2M1: ml_dtypes.float4_e2m1fn, TP.FLOAT8E8M0: ml_dtypes.float8_e8m0fnu,
    TP.INT4: ml_dtypes.int4, TP.UINT4: ml_dtypes.uint4, TP.INT2: ml_dtypes.int2, TP.UINT2: ml_dtypes.uint2,
}
ONNX_OF = {np.dtype(v): k for k, v in NP.items()}
FLOATS = (TP.FLOAT, TP.DOUBLE, TP.FLOAT16, TP.BFLOAT16)
INTS = (TP.INT8, TP.INT16, TP.INT32, TP.INT64, TP.UINT8, TP.UINT16, TP.UINT32, TP.UINT64)


class Graph:
    """Nodes over named inputs; every node output is a graph output."""

    def __init__(self):
        self.inputs: list[tuple[str, np.ndarray]] = []
        self.inits: list = []
        self.nodes: list = []
        self.outputs: list[tuple[str, int, list[int]]] = []

    def input(self, name: str, arr: np.ndarray) -> str:
        self.inputs.append((name, np.asarray(arr)))
        return name

    def const(self, name: str, arr: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(self, op: str, ins: list[str], out: str, out_type: int, shape, graph_output: bool = True,
             **attrs) -> str:
        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        if graph_output:
            self.outputs.append((out, out_type, list(shape)))
        return out

    def model(self):
        vi = lambda n, a: helper.make_tensor_value_info(n, ONNX_OF[a.dtype], list(a.shape))  # noqa: E731
        g = helper.make_graph(self.nodes, "g", [vi(n, a) for n, a in self.inputs],
                              [helper.make_tensor_value_info(n, t, s) for n, t, s in self.outputs], self.inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])

    def run_both(self):
        prog = tensorc.import_onnx(self.model())
        feeds = [a for _, a in self.inputs]
        with np.errstate(all="ignore"):
            ref = tensorc.compile(prog, target="reference")(*feeds)
            got = tensorc.compile(prog, target="llvm-cpu")(*feeds)
        return ref, got


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint8) if a.dtype.itemsize == 1 else a


def assert_same(name: str, ref: np.ndarray, got: np.ndarray, rtol: float = 0.0, atol: float = 0.0) -> None:
    assert ref.dtype == got.dtype, f"{name}: dtype {got.dtype}, expected {ref.dtype}"
    assert ref.shape == got.shape, f"{name}: shape {got.shape}, expected {ref.shape}"
    if ref.dtype.kind in "iub" or ref.dtype.itemsize == 1:
        bad = _bits(ref) != _bits(got)
        if ref.dtype.itemsize == 1 and ref.dtype.kind not in "iub":  # 8/4-bit floats: NaNs of any payload
            f_ref, f_got = ref.astype(np.float32), got.astype(np.float32)
            bad &= ~(np.isnan(f_ref) & np.isnan(f_got))
        assert not bad.any(), f"{name}: at {np.argwhere(bad)[:5].tolist()}: got {got[bad][:5]}, expected {ref[bad][:5]}"
        return
    with np.errstate(all="ignore"):
        _compare_floats(name, ref, got, rtol, atol)


def _compare_floats(name, ref, got, rtol, atol):
    r, g = ref.astype(np.float64), got.astype(np.float64)
    nan_r, nan_g = np.isnan(r), np.isnan(g)
    bad = nan_r != nan_g
    fin = ~nan_r & ~nan_g
    inf = fin & (np.isinf(r) | np.isinf(g))
    bad |= inf & (r != g)
    close = fin & ~inf
    if rtol == 0 and atol == 0:
        bad |= close & (r != g)
    else:
        bad |= close & ~(np.abs(r - g) <= atol + rtol * np.abs(r))
    assert not bad.any(), (f"{name}: at {np.argwhere(bad)[:5].tolist()}: got {got[bad][:5]}, "
                           f"expected {ref[bad][:5]} (inputs dtype {ref.dtype})")


def check(graph: Graph, tol: dict[str, tuple[float, float]] | None = None, default=(0.0, 0.0)) -> None:
    ref, got = graph.run_both()
    assert set(ref) == set(got)
    errors = []
    for name in ref:
        rtol, atol = (tol or {}).get(name.split("__")[0], default)
        try:
            assert_same(name, np.asarray(ref[name]), np.asarray(got[name]), rtol, atol)
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)
