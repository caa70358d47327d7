"""The graph model: sizes, M_R, lifetimes, peaks, orders, from real IR."""

import pytest

import tensorc
from graphs import branches_graph, cell_graph, skip_graph
from tensorc.planning.graph import ACTIVATION, INPUT, WEIGHT, Graph
from tensorc.planning.orders import min_peak_order
from tensorc.tools.models.small import convnet


def test_m_r_is_the_largest_working_set():
    g = skip_graph()
    assert [g.working_set(i) for i in range(g.n_ops)] == [128, 320, 512, 320, 192]
    assert g.m_r == 512 and g.ops[g.m_r_op].kind == "act"


def test_lifetimes_and_peak():
    g = skip_graph()
    order = g.default_order()
    # inputs live from first to last use; activations from producer to last consumer
    assert g.lifetimes(order) == [(0, 0), (0, 4), (1, 2), (2, 3), (3, 4), (4, 4)]
    assert list(g.live_bytes(order)) == [128, 320, 576, 384, 192]
    assert g.peak(order) == 576


def test_min_peak_order_beats_the_program_order():
    g = branches_graph()
    assert g.peak(g.default_order()) == 72
    order = min_peak_order(g)
    assert g.is_topological(order)
    assert g.peak(order) == 64 == g.m_r


def test_compulsory_traffic_counts_inputs_once_and_outputs_once():
    g = cell_graph(10, seed=3, weights=True)
    reads = sum(t.size for t in g.tensors if t.kind in (INPUT, WEIGHT))
    writes = sum(t.size for t in g.tensors if t.is_output)
    assert g.compulsory_traffic == reads + writes


@pytest.fixture(scope="module")
def convnet_prog():
    return tensorc.lower(tensorc.import_onnx(convnet()), "cleanup")


def test_from_program(convnet_prog):
    g = Graph.from_program(convnet_prog)
    assert [o.kind for o in g.ops] == ["tg.conv", "tg.relu", "tg.max_pool", "tg.conv", "tg.relu", "tg.max_pool",
                                       "tg.reshape", "tg.gemm"]
    assert g.tensors[0].kind == INPUT and g.tensors[0].size == 3 * 32 * 32  # 8-bit sizes by default
    assert all(t.kind in (INPUT, ACTIVATION) for t in g.tensors)  # weights left out by default
    assert [t.name for t in g.tensors if t.is_output] == ["logits"]
    assert g.ops[0].src == "conv1"
    assert g.is_topological(g.default_order())


def test_weights_and_elem_bytes(convnet_prog):
    g1 = Graph.from_program(convnet_prog, weights=True)
    w = [t for t in g1.tensors if t.kind == WEIGHT]
    assert {t.name for t in w} >= {"conv1.weight", "conv2.weight", "fc.weight"}
    g = Graph.from_program(convnet_prog)
    assert g1.working_set(7) == g.working_set(7) + 10 * 2048 + 10  # fc weight and bias
    g4 = Graph.from_program(convnet_prog, elem_bytes=4)
    g0 = Graph.from_program(convnet_prog, elem_bytes=None)  # the dtype's own size: f32
    assert [t.size for t in g4.tensors] == [t.size for t in g0.tensors] == [4 * t.size for t in Graph.from_program(convnet_prog).tensors]
