"""Real graphs from the onnx wheel, with short time limits (the full figures are `tensorc bench cosma`)."""

import time

import pytest

from tensorc.planning.checker import check_plan
from tensorc.planning.cosma import compute_budgets, plan_graph
from tensorc.tools.bench_cosma import load_graph


@pytest.fixture(scope="module")
def densenet():
    return load_graph("densenet121", weights=False)


def test_densenet_at_m_r_within_the_time_limit(densenet):
    g = densenet
    assert g.n_ops > 600
    budgets = compute_budgets(g)
    t0 = time.perf_counter()
    res = plan_graph(g, "auto:MR", time_limit=5, budgets=budgets)
    assert time.perf_counter() - t0 < 5 + 2  # the limit, plus model building
    assert check_plan(g, res.plan).non_compulsory == res.plan.traffic
    best_base = res.best_baseline().report.non_compulsory
    assert best_base > 0 and res.plan.traffic <= 0.5 * best_base
    for c in res.baselines:
        check_plan(g, c.plan)


def test_densenet_at_m_p_moves_nothing(densenet):
    res = plan_graph(densenet, "auto:MP", time_limit=5)
    assert res.plan.traffic == 0 and res.best_baseline().report.non_compulsory > 0


def test_min_peak_arena_never_larger_than_greedy(densenet):
    res = plan_graph(densenet, mode="min-peak", time_limit=5)
    greedy = min(c.report.arena for c in res.baselines)
    assert res.best.report.arena <= greedy
    assert res.best.report.arena == res.budgets.m_p  # exact placement reaches the peak here


def test_squeezenet_with_weights():
    g = load_graph("squeezenet", weights=True)
    res = plan_graph(g, "auto:MR", time_limit=5)
    assert check_plan(g, res.plan).non_compulsory == res.plan.traffic
    assert res.plan.traffic <= res.best_baseline().report.non_compulsory
