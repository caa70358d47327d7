"""The traffic lower bound (bounds.py): below every exact optimum, tight where the structure forces spills."""

import pytest

from graphs import branches_graph, cell_graph, skip_graph
from tensorc.planning import ilp
from tensorc.planning.bounds import traffic_lower_bound
from tensorc.planning.checker import check_plan
from tensorc.planning.cosma import plan_graph
from tensorc.planning.graph import Graph


def test_skip_graph_bound_is_the_optimum():
    g = skip_graph()  # at M_R the skip tensor `a` (64 B) must be spilled and retrieved: 128 B
    b = traffic_lower_bound(g, g.m_r)
    assert b.bytes == 128 and b.how == "ilp"
    assert [g.ops[o].kind for o in b.tight_ops] == ["act"]
    assert traffic_lower_bound(g, g.peak(g.default_order())).bytes == 0


def test_order_freedom_is_respected():
    g = branches_graph()  # spill-free at 64 B in the wide-branch-first order: the bound must not claim traffic
    assert traffic_lower_bound(g, 64).bytes == 0


def test_outputs_and_inputs_cost_one_read():
    # `x` is read by op0 and again by the last op; op1's working set leaves no room for it
    g = Graph.synthetic([("op0", ["x"], ["a"]), ("op1", ["a"], ["b"]), ("op2", ["b", "x"], ["c"])],
                        {"x": 10, "a": 20, "b": 30, "c": 4}, inputs=["x"], outputs=["c"])
    assert traffic_lower_bound(g, g.m_r).bytes == 10  # read x again, no spill needed
    res = plan_graph(g, "auto:MR", time_limit=5)
    assert res.plan.traffic == 10 and res.plan.status == "optimal"


@pytest.mark.parametrize("reach,weights,seed", [(2, False, 2), (2, False, 5), (4, True, 3)])
def test_below_the_exact_optimum_on_random_cells(reach, weights, seed):
    g = cell_graph(9, seed=seed, reach=reach, weights=weights)  # cells whose optimum at M_R moves bytes
    r = ilp.solve_ilp(g, g.m_r, mode=ilp.TRAFFIC, addresses=True, time_limit=20)
    assert r is not None and r.status == "optimal"
    best = check_plan(g, ilp.plan_from_ilp(g, r, g.m_r)).non_compulsory
    assert 0 < best
    bound = traffic_lower_bound(g, g.m_r).bytes
    assert bound <= best
    if (reach, weights, seed) == (4, True, 3):
        assert bound == best == 18  # t0 (9 B) is live across op2, which leaves 5 B free: spilled and retrieved


def test_plan_graph_stops_at_the_bound_and_says_why():
    g = skip_graph()
    res = plan_graph(g, "auto:MR", time_limit=10, full_ilp_ops=0)
    assert res.plan.traffic == res.lower_bound.bytes == 128
    assert res.plan.status == "optimal" and "lower bound" in res.plan.info["proof"]
    assert res.to_dict()["bounds"]["traffic_lower_bound"] == 128


def test_a_plan_below_the_bound_is_refused():
    from tensorc.planning.bounds import TrafficBound
    from tensorc.planning.checker import PlanCheckError
    from tensorc.planning.cosma import Checked, _respects_bound

    g = skip_graph()
    res = plan_graph(g, "auto:MR", time_limit=5)
    with pytest.raises(PlanCheckError, match="below the lower bound"):
        _respects_bound(Checked(res.plan, check_plan(g, res.plan)), TrafficBound(129, [], "test"))
