"""The independent checker accepts valid plans and catches every kind of corruption."""

import copy

import pytest

from graphs import cell_graph, skip_graph
from tensorc.planning.checker import PlanCheckError, check_plan
from tensorc.planning.cosma import plan_graph
from tensorc.planning.plan import Plan


@pytest.fixture(scope="module")
def spilling():
    """skip_graph at M_R: `a` is spilled before `act` and retrieved for `add`."""
    g = skip_graph()
    res = plan_graph(g, scratchpad="auto:MR", time_limit=10)
    return g, res.plan


def _names(g, plan, t):
    return {g.tensors[a].name: off for a, off in plan.steps[t].resident.items()}


def test_valid_plan_passes_and_traffic_is_recomputed(spilling):
    g, plan = spilling
    rep = check_plan(g, plan)
    assert rep.spill_bytes == 64 and rep.non_compulsory == 128 == plan.traffic
    assert rep.arena <= plan.capacity == 512
    a = next(t.id for t in g.tensors if t.name == "a")
    assert any(a in st.spill for st in plan.steps) and any(a == r for st in plan.steps for r, _ in st.retrieve)


def _expect(g, plan, fragment):
    with pytest.raises(PlanCheckError) as e:
        check_plan(g, plan)
    assert any(fragment in p for p in e.value.problems), e.value.problems
    return e.value


def test_overlap_is_caught(spilling):
    g, plan = spilling
    bad = copy.deepcopy(plan)
    t = 2  # `act` runs: b and c resident together
    (c, off_c), = bad.steps[t].create
    b = next(a for a in bad.steps[t].resident if a != c and g.tensors[a].name == "b")
    bad.steps[t].create = [(c, bad.steps[t].resident[b])]
    for st in bad.steps:
        if c in st.resident:
            st.resident[c] = bad.steps[t].resident[b]
    _expect(g, bad, "overlaps")


def test_missing_retrieve_is_caught(spilling):
    g, plan = spilling
    bad = copy.deepcopy(plan)
    t = next(t for t, st in enumerate(bad.steps) if any(g.tensors[a].name == "a" for a, _ in st.retrieve))
    (a, off), = [(x, o) for x, o in bad.steps[t].retrieve if g.tensors[x].name == "a"]
    bad.steps[t].retrieve.remove((a, off))
    for st in bad.steps[t:]:
        st.resident.pop(a, None)
    bad.traffic -= g.tensors[a].size
    _expect(g, bad, "is not resident (missing retrieve)")


def test_drop_without_spill_is_caught(spilling):
    g, plan = spilling
    bad = copy.deepcopy(plan)
    t = next(t for t, st in enumerate(bad.steps) if st.spill)
    a = bad.steps[t].spill.pop()
    bad.steps[t].drop.append(a)
    bad.traffic -= g.tensors[a].size
    e = _expect(g, bad, "without spilling it")
    assert any("DRAM does not hold" in p for p in e.problems)


def test_capacity_is_caught(spilling):
    g, plan = spilling
    bad = copy.deepcopy(plan)
    (c, _), = bad.steps[0].create
    bad.steps[0].create = [(c, plan.capacity - 1)]
    for st in bad.steps:
        if c in st.resident:
            st.resident[c] = plan.capacity - 1
    _expect(g, bad, "outside the scratchpad")


def test_silent_move_is_caught(spilling):
    g, plan = spilling
    bad = copy.deepcopy(plan)
    # `b` is created at step 1 and preserved into step 2: claim it moved
    b = next(t.id for t in g.tensors if t.name == "b")
    bad.steps[2].resident[b] += 1
    _expect(g, bad, "cannot move")


def test_wrong_traffic_claim_is_caught(spilling):
    g, plan = spilling
    bad = copy.deepcopy(plan)
    bad.traffic = 0
    _expect(g, bad, "claims 0 bytes")


def test_order_and_outputs_are_checked(spilling):
    g, plan = spilling
    bad = copy.deepcopy(plan)
    bad.steps[0].store.clear()
    bad.steps[-1].store.clear()
    _expect(g, bad, "written back 0 times")
    swapped = copy.deepcopy(plan)
    swapped.order[0], swapped.order[1] = swapped.order[1], swapped.order[0]
    swapped.steps[0], swapped.steps[1] = swapped.steps[1], swapped.steps[0]
    with pytest.raises(PlanCheckError):
        check_plan(g, swapped)


def test_json_round_trip_keeps_the_plan_checkable(spilling):
    g, plan = spilling
    again = Plan.from_dict(g, plan.to_dict(g))
    assert check_plan(g, again).non_compulsory == plan.traffic
    assert again.intervals() == plan.intervals()


@pytest.mark.parametrize("seed", range(4))
def test_random_plans_all_pass(seed):
    g = cell_graph(14, seed=seed, weights=seed % 2 == 1)
    res = plan_graph(g, scratchpad="auto:MR", time_limit=1.5)
    for c in [res.best, *res.baselines]:
        assert check_plan(g, c.plan).non_compulsory == c.plan.traffic
