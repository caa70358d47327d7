"""TFLite-style baselines and interval packing."""

import pytest

from graphs import cell_graph, skip_graph
from tensorc.planning import packing
from tensorc.planning.baselines import all_baselines, arena_plan, online_plan
from tensorc.planning.checker import check_plan
from tensorc.planning.orders import min_peak_order


def test_arena_plan_without_capacity_is_spill_free():
    g = skip_graph()
    plan, arena = arena_plan(g, g.default_order())
    rep = check_plan(g, plan)
    assert rep.non_compulsory == 0 and rep.arena == arena >= g.peak(g.default_order())


@pytest.mark.parametrize("replacement", ["belady", "greedy"])
def test_online_plan_at_m_r_is_valid(replacement):
    g = skip_graph()
    plan = online_plan(g, g.default_order(), g.m_r, replacement)
    rep = check_plan(g, plan)
    assert rep.non_compulsory >= 128 and rep.arena <= g.m_r


@pytest.mark.parametrize("seed", range(6))
def test_four_baselines_are_valid_at_every_budget(seed):
    g = cell_graph(16, seed=seed, weights=seed % 2 == 0)
    orders = {"default": g.default_order(), "min-peak": min_peak_order(g)}
    for cap in (g.m_r, (g.m_r + g.peak(orders["min-peak"])) // 2, g.peak(orders["min-peak"])):
        plans = all_baselines(g, cap, orders)
        assert [p.method for p in plans] == ["tflite-default-belady", "tflite-default-greedy",
                                             "tflite-min-peak-belady", "tflite-min-peak-greedy"]
        for p in plans:
            assert check_plan(g, p).non_compulsory == p.traffic


def test_greedy_by_size_packing():
    items = [packing.Item("a", 0, 1, 10), packing.Item("b", 1, 2, 5), packing.Item("c", 2, 3, 10)]
    offsets, failed = packing.greedy(items)
    assert not failed and offsets["a"] == 0 and offsets["c"] == 0 and offsets["b"] == 10
    assert packing.arena_size(items, offsets) == 15
    offsets, failed = packing.greedy(items, capacity=12)
    assert [it.key for it in failed] == ["b"]


def test_exact_packing_fixes_greedy_fragmentation():
    # every greedy ordering fragments this instance at its max load of 12 bytes; the ILP does not
    items = [packing.Item("a", 2, 3, 6), packing.Item("b", 3, 4, 1), packing.Item("c", 4, 5, 6),
             packing.Item("d", 0, 1, 5), packing.Item("e", 3, 3, 4), packing.Item("f", 1, 2, 6)]
    assert packing.pack_best(items, 12)[1]
    offsets = packing.pack_ilp(items, 12, time_limit=10)
    assert offsets is not None and packing._disjoint([(offsets[it.key], it) for it in items], 12)
    assert packing.pack_ilp(items, 11, time_limit=10) is None  # below the max load: impossible


def test_plan_arena_never_worse_than_greedy():
    from tensorc.planning.arena import plan_arena

    bufs = [(6, 2, 3), (1, 3, 4), (6, 4, 5), (5, 0, 1), (4, 3, 3), (6, 1, 2)]
    offsets, size = plan_arena(bufs)
    assert size == 12  # the bound; greedy by size needs more
    items = [packing.Item(i, f, l, s) for i, (s, f, l) in enumerate(bufs)]
    assert packing._disjoint([(offsets[i], it) for i, it in enumerate(items)], size)
    offsets, size = plan_arena([(s * 64 - 5, f, l) for s, f, l in bufs], align=64)
    assert size == 12 * 64 and all(o % 64 == 0 for o in offsets)
