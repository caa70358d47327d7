"""The full COSMA ILP on small graphs: its answers, its modes, warm starts, time limits, CBC."""

import time

import pytest

from graphs import branches_graph, cell_graph, skip_graph
from tensorc.planning import ilp
from tensorc.planning.baselines import all_baselines
from tensorc.planning.checker import check_plan
from tensorc.planning.cosma import compute_budgets, plan_graph
from tensorc.planning.decompose import plan_fixed_order
from tensorc.planning.orders import min_peak_order


def _exact(g, cap, mode=ilp.TRAFFIC, **kw):
    r = ilp.solve_ilp(g, cap, mode=mode, addresses=True, time_limit=20, **kw)
    assert r is not None and r.status == "optimal"
    p = ilp.plan_from_ilp(g, r, cap)
    assert check_plan(g, p).non_compulsory == p.traffic
    return r, p


def test_skip_graph_optimum():
    g = skip_graph()
    r, p = _exact(g, g.m_r)
    assert p.traffic == 128 and r.objective == pytest.approx(128)  # spill a once, retrieve it once
    r, p = _exact(g, g.peak(g.default_order()))
    assert p.traffic == 0


def test_schedule_freedom_avoids_spills():
    g = branches_graph()
    assert _exact(g, 64)[1].traffic == 0  # runs the wide branch first
    r, p = _exact(g, 64, mode=ilp.FIXED)  # the program order must move `s` out and back
    assert p.traffic == 16 and p.order == g.default_order()


def test_min_peak_mode():
    g = branches_graph()
    r = ilp.solve_ilp(g, 1000, mode=ilp.MIN_PEAK, addresses=False, time_limit=20)
    assert r.status == "optimal" and round(r.objective) == 64 == g.peak(r.order)
    b = compute_budgets(g)
    assert b.m_p == 64 and b.m_p_exact


@pytest.mark.parametrize("seed", [1, 2])
def test_ilp_never_worse_than_decomposition_and_baselines(seed):
    g = cell_graph(10, seed=seed)
    cap = g.m_r
    base = min(p.traffic for p in all_baselines(g, cap, {"d": g.default_order(), "m": min_peak_order(g)}))
    dec = plan_fixed_order(g, g.default_order(), cap, 5)
    r, p = _exact(g, cap, warm=dec)
    assert p.traffic <= dec.traffic <= base or p.traffic <= base


def test_capacity_only_variant_is_a_lower_bound():
    g = cell_graph(10, seed=2)
    with_addr = ilp.solve_ilp(g, g.m_r, addresses=True, time_limit=20)
    bytes_only = ilp.solve_ilp(g, g.m_r, addresses=False, time_limit=20)
    assert bytes_only.objective <= with_addr.objective + 1e-6


def test_warm_start_and_time_limit_return_a_valid_plan():
    g = cell_graph(24, seed=5, reach=4)
    warm = plan_graph(g, "auto:MR", time_limit=2, full_ilp_ops=0).plan
    t0 = time.perf_counter()
    r = ilp.solve_ilp(g, g.m_r, addresses=True, time_limit=1.0, warm=warm)
    elapsed = time.perf_counter() - t0
    assert r is not None and elapsed < 1.0 + r.build_s + 1.5
    p = ilp.plan_from_ilp(g, r, g.m_r)
    assert check_plan(g, p).non_compulsory <= warm.traffic  # never worse than the start it was given
    if r.status != "optimal":
        assert r.status == "feasible"


def test_cbc_fallback_agrees_with_highs():
    g = skip_graph()
    a = ilp.solve_ilp(g, g.m_r, time_limit=20, solver="highs")
    b = ilp.solve_ilp(g, g.m_r, time_limit=20, solver="cbc")
    assert a.objective == pytest.approx(b.objective) == pytest.approx(128)
