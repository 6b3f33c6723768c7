"""Decision support: the maximal-covering programme by hand and against spopt's, and the fast
paths of the greedy order (one figure per candidate, candidates evaluated again only where a
closure changed the intensity) against evaluating every candidate in full at every step."""

import warnings

import numpy as np
import pytest
from test_scenario import six  # noqa: F401  (fixture: six bases of random strength and place)

from geo.decision import (
    added_vacuum,
    closure_effect,
    greedy_closing_order,
    mclp_keep,
    mclp_problem,
    order_cost,
    vacuum_measure,
)
from geo.plan import Step
from geo.scenario import WhatIf

# 4 demand points x 3 facilities: facility 0 covers points 0 and 1, facility 1 points 1 and 2,
# facility 2 point 3
COVERS = np.array([[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
WEIGHTS = np.array([5.0, 1.0, 4.0, 3.0])


def test_mclp_keep_by_hand():
    # one facility: 0 covers 5 + 1 = 6, 1 covers 1 + 4 = 5, 2 covers 3
    assert mclp_keep(COVERS, WEIGHTS, 1) == [0]
    # two: {0, 1} cover 5 + 1 + 4 = 10, {0, 2} 5 + 1 + 3 = 9, {1, 2} 1 + 4 + 3 = 8
    assert mclp_keep(COVERS, WEIGHTS, 2) == [0, 1]
    assert mclp_keep(COVERS, WEIGHTS, 3) == [0, 1, 2]


@pytest.mark.parametrize("p", [1, 2])
def test_mclp_problem_is_the_programme_spopt_builds(tmp_path, p):
    """The same LP file as spopt's MCLP.from_cost_matrix writes for the same demand (so CBC gets
    the same programme), and the same facilities chosen."""
    import pulp
    from spopt.locate import MCLP

    rng = np.random.default_rng(3)
    covers = rng.random((12, 5)) < 0.4
    weights = rng.integers(1, 50, 12).astype(float)
    ours, _, _ = mclp_problem(covers, weights, p)
    with warnings.catch_warnings():  # spopt builds variables with PuLP's deprecated constructor
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = MCLP.from_cost_matrix(np.where(covers, 0.0, 1e6), weights, service_radius=1.0, p_facilities=p,
                                       name="keep")
        theirs.problem.writeLP(str(tmp_path / "spopt.lp"))
        ours.writeLP(str(tmp_path / "ours.lp"))
        theirs.solve(pulp.PULP_CBC_CMD(msg=False))
    assert (tmp_path / "ours.lp").read_text() == (tmp_path / "spopt.lp").read_text()
    chosen = [j for j, fac in enumerate(theirs.fac2cli) if len(fac) or theirs.fac_vars[j].varValue > 0.5]
    assert mclp_keep(covers, weights, p) == chosen


def test_added_vacuum_is_closure_effect_s_figure(six):  # noqa: F811
    bl, rows = six
    w = WhatIf(bl)
    for state in range(3):
        for bid, *_ in rows:
            assert added_vacuum(w, bid) == closure_effect(w, bid).added_vacuum
        w.apply(Step("close", rows[state][0]))  # then again with bases closed


def test_vacuum_of_an_intensity_is_the_vacuum_measure_of_its_gap(six):  # noqa: F811
    bl, rows = six
    w = WhatIf(bl)
    assert bl.vacuum_of(w.intensity) == vacuum_measure(w.gap(), bl.exposure) == bl.vacuum_open
    w.apply(Step("close", rows[1][0]))
    w.apply(Step("reduce", rows[4][0], strength=35.0))
    assert bl.vacuum_of(w.intensity) == vacuum_measure(w.gap(), bl.exposure)


def _greedy_by_hand(bl, ids, per_troop=None):
    """Every remaining candidate's full closure_effect at every step; the least added vacuum
    (per troop with ``per_troop``) closes, ties to the earlier candidate."""
    w = WhatIf(bl)
    v = vacuum_measure(w.gap(), bl.exposure)
    remaining, seq = list(ids), []
    while remaining:
        costs = [closure_effect(w, b).added_vacuum / (per_troop[b] if per_troop else 1.0) for b in remaining]
        best = remaining[int(np.argmin(costs))]
        v += closure_effect(w, best).added_vacuum
        w.set_weight(best, 0.0)
        seq.append((best, v))
        remaining.remove(best)
    return seq


def test_greedy_order_equals_evaluating_every_candidate_at_every_step(six):  # noqa: F811
    bl, rows = six
    ids = [r[0] for r in rows]
    by_hand = _greedy_by_hand(bl, ids)
    assert greedy_closing_order(bl, ids) == by_hand
    assert greedy_closing_order(bl, ids, count=2) == by_hand[:2]
    assert greedy_closing_order(bl, ids[::-1]) == _greedy_by_hand(bl, ids[::-1])
    troops = {r[0]: r[1] for r in rows}
    assert greedy_closing_order(bl, ids, troops_to_free=1e9) == _greedy_by_hand(bl, ids, per_troop=troops)
    # the order's last vacuum is that of closing them all
    assert by_hand[-1][1] == pytest.approx(order_cost(bl, [ids])[0])


def test_reach_neighbours_include_every_base_sharing_a_cell(six):  # noqa: F811
    bl, rows = six
    terms = {t.base_id: set(t.reach.index.tolist()) for t in bl.model.terms}
    for a, cells_a in terms.items():
        assert a in bl.reach_neighbours[a]
        for b, cells_b in terms.items():
            if cells_a & cells_b:
                assert b in bl.reach_neighbours[a]
