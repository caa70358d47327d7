"""Windows of a large plan re-solved by the full ILP and spliced back."""

import time

from graphs import cell_graph
from tensorc.planning import ilp
from tensorc.planning.baselines import baseline_plan
from tensorc.planning.checker import check_plan
from tensorc.planning.cosma import compute_budgets
from tensorc.planning.decompose import plan_fixed_order
from tensorc.planning.windows import hot_steps, improve_by_windows, splice, window_state


def _start():
    g = cell_graph(60, seed=7, reach=4, weights=True)
    order = compute_budgets(g).m_p_order
    return g, plan_fixed_order(g, order, g.m_r, 3)


def _start_with_traffic():
    """A valid plan that still has traffic to remove.

    The residency solve may already reach zero traffic on an idle machine (its time limit
    decides how far it gets), so fall back to the Belady baseline, which never does here.
    """
    g, plan = _start()
    if not hot_steps(plan, g):
        plan = baseline_plan(g, compute_budgets(g).m_p_order, g.m_r, "belady", "belady")
    return g, plan


def test_a_window_spliced_back_keeps_the_plan_valid():
    g, plan = _start()
    for s in [0, 20, g.n_ops - 6]:
        e = s + 5
        win = window_state(g, plan, s, e)
        r = ilp.solve_ilp(g, g.m_r, mode=ilp.TRAFFIC, window=win, addresses=True, time_limit=5, warm=plan,
                          warm_offset=s)
        assert r is not None
        p = splice(g, plan, s, e, r)
        assert p is not None
        assert check_plan(g, p).non_compulsory == p.traffic <= plan.traffic


def test_windows_never_worsen_and_respect_the_deadline():
    g, plan = _start_with_traffic()
    assert hot_steps(plan, g)  # there is traffic to remove
    t0 = time.perf_counter()
    better = improve_by_windows(g, plan, g.m_r, time.perf_counter() + 3)
    assert time.perf_counter() - t0 < 3 + 1.5
    assert check_plan(g, better).non_compulsory == better.traffic <= plan.traffic
