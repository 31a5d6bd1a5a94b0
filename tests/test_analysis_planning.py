"""Dilation planning against hand-computed stacks and an independent brute force."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drnet.analysis import check_rates, path_counts, plan_rates, sampled_offsets


def brute_offsets(rates: tuple[int, ...], kernel: int) -> set[int]:
    """Every sum of taps t_i * r_i, t_i in [-(k-1)/2, (k-1)/2], by enumeration."""
    half = kernel // 2
    return {sum(t * r for t, r in zip(taps, rates, strict=True))
            for taps in itertools.product(range(-half, half + 1), repeat=len(rates))}


def test_constant_rates_have_holes_with_a_common_factor() -> None:
    check = check_rates((2, 2, 2))
    assert check.rf == 13
    assert not check.ok
    assert check.holes == (-5, -3, -1, 1, 3, 5)
    assert "factor 2" in check.reason
    assert sampled_offsets((2, 2, 2)) == tuple(range(-6, 7, 2))


def test_hybrid_rates_have_no_holes() -> None:
    check = check_rates((1, 2, 5))
    assert check.ok
    assert check.rf == 17
    assert check.coverage == 1.0
    assert "no holes" in check.reason


def test_reasons_name_the_rate_that_cannot_be_bridged() -> None:
    check = check_rates((1, 4))  # {-1, 0, 1} + {-4, 0, 4}: 2 and -2 are never reached
    assert check.holes == (-2, 2)
    assert "rate 4 is larger than 3" in check.reason
    check = check_rates((2, 3))  # no common factor, but the smallest rate is not 1
    assert check.holes == (-4, 4)
    assert "rate 2 is larger than 1" in check.reason
    assert check_rates((1, 5), kernel=5).ok  # 5x5 taps reach +-2: rate 5 is bridged
    # {-2..2} + {-12, -6, 0, 6, 12}: the gaps between the blocks are 3 and 9 (and mirrored).
    assert check_rates((1, 6), kernel=5).holes == (-9, -3, 3, 9)


def test_path_counts_are_the_trinomial_coefficients() -> None:
    # (1 + x + x^2)^3 = 1, 3, 6, 7, 6, 3, 1
    assert list(path_counts((1, 1, 1)).values()) == [1, 3, 6, 7, 6, 3, 1]
    assert path_counts((2,)) == {-2: 1, 0: 1, 2: 1}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 12), min_size=1, max_size=4), st.sampled_from([3, 5]))
def test_holes_match_brute_force_and_the_bridging_rule(rates: list[int], kernel: int) -> None:
    check = check_rates(rates, kernel)
    reach = kernel // 2 * sum(rates)
    expected = tuple(sorted(set(range(-reach, reach + 1)) - brute_offsets(tuple(rates), kernel)))
    assert check.holes == expected
    filled, bridged = 0, True
    for r in sorted(rates):
        bridged &= r <= (kernel - 1) * filled + 1
        filled += r
    assert check.ok == bridged


def test_plans_for_hand_computed_targets() -> None:
    assert plan_rates(3, 13) == (1, 2, 3)  # 1 + 2 * 6 = 13, largest rate 3 (HDC-like)
    assert plan_rates(3, 27) == (1, 3, 9)  # 3 layers reach at most 3**3 = 27
    assert plan_rates(5, 9) == (1, 3)  # 9 pixels need only 2 layers: 1 + 2 * 4
    assert plan_rates(4, 1) == (1,)
    assert plan_rates(2, 25, kernel=5) == (1, 5)


def brute_plan(num_layers: int, target: int, kernel: int = 3) -> tuple[int, ...]:
    for layers in range(1, num_layers + 1):
        candidates = []
        for rates in itertools.combinations_with_replacement(range(1, kernel ** layers), layers):
            rf = 1 + (kernel - 1) * sum(rates)
            reach = kernel // 2 * sum(rates)
            if rf >= target and len(brute_offsets(rates, kernel)) == 2 * reach + 1:
                candidates.append((max(rates), rf, sorted(rates, reverse=True), rates))
        if candidates:
            return min(candidates)[3]
    raise AssertionError("unreachable")


@pytest.mark.parametrize("target", range(1, 28))
def test_plans_are_optimal_by_brute_force(target: int) -> None:
    assert plan_rates(3, target) == brute_plan(3, target)


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="needs at least 3 hole-free 3x3 layers"):
        plan_rates(2, 10)
    with pytest.raises(ValueError, match="num_layers must be"):
        plan_rates(0, 5)
    with pytest.raises(ValueError, match="target_rf must be"):
        plan_rates(2, 0)
    with pytest.raises(ValueError, match="rates must be a non-empty sequence"):
        check_rates([])
    with pytest.raises(ValueError, match="kernel must be an odd int"):
        check_rates([1, 2], kernel=4)
