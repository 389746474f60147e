"""The commission's pure rules: the amount (half up on minor units, integers only), the minimum,
the retry schedule, the state table and what a PaymentIntent's status means."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sellerhub.billing.commissions import rules
from sellerhub.billing.commissions.rules import CommissionState as S

amounts = st.integers(min_value=0, max_value=10**15)
rates = st.integers(min_value=0, max_value=10_000)


@given(amounts, rates)
def test_the_commission_is_the_exact_product_rounded_half_up(amount: int, bps: int) -> None:
    exact = Decimal(amount) * Decimal(bps) / Decimal(10_000)
    expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert rules.commission_minor(amount, bps) == expected


@given(amounts, rates)
def test_the_commission_is_within_half_a_minor_unit(amount: int, bps: int) -> None:
    got = rules.commission_minor(amount, bps)
    exact = Fraction(amount * bps, 10_000)
    assert isinstance(got, int)
    assert -Fraction(1, 2) < got - exact <= Fraction(1, 2)
    assert 0 <= got <= amount


@given(amounts, amounts, rates)
def test_more_recovered_never_costs_less(a: int, b: int, bps: int) -> None:
    low, high = sorted((a, b))
    assert rules.commission_minor(low, bps) <= rules.commission_minor(high, bps)


def test_examples() -> None:
    assert rules.commission_minor(10_000, 2000) == 2000  # 20 % of 100.00
    assert rules.commission_minor(1, 5000) == 1  # 0.5 of a cent goes up
    assert rules.commission_minor(3, 5000) == 2  # 1.5 -> 2 (half up, not half even)
    assert rules.commission_minor(2, 2000) == 0  # 0.4 -> 0
    assert rules.commission_minor(13, 2000) == 3  # 2.6 -> 3
    assert rules.commission_minor(0, 2000) == 0


def test_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError, match="positive recovery"):
        rules.commission_minor(-1, 2000)
    with pytest.raises(ValueError, match="basis points"):
        rules.commission_minor(100, 10_001)


def test_the_minimum_per_currency() -> None:
    assert rules.below_minimum(49, "USD")
    assert not rules.below_minimum(50, "usd")
    assert rules.minimum_for("GBP") == 30
    assert rules.minimum_for("XYZ") == rules.DEFAULT_MINIMUM
    assert not rules.below_minimum(10, "USD", {"USD": 10})


def test_the_retry_schedule() -> None:
    at = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
    assert rules.next_attempt(1, at) == at + dt.timedelta(days=1)
    assert rules.next_attempt(2, at) == at + dt.timedelta(days=3)
    assert rules.next_attempt(3, at) == at + dt.timedelta(days=7)
    assert rules.next_attempt(4, at) is None  # given up
    assert rules.next_attempt(1, at, (2,)) == at + dt.timedelta(days=2)
    with pytest.raises(ValueError, match="from 1"):
        rules.next_attempt(0, at)


def test_the_idempotency_key_names_the_recovery_and_the_attempt() -> None:
    assert rules.idempotency_key("r1", 2) == "commission:r1:2"


@given(st.sampled_from(list(S)), st.sampled_from(list(S)))
def test_only_the_table_moves(current: S, target: S) -> None:
    allowed = target in rules.TRANSITIONS[current]
    assert rules.can_move(current, target) is allowed
    if allowed:
        rules.check_move(current, target)
    else:
        with pytest.raises(rules.IllegalTransition):
            rules.check_move(current, target)


def test_the_table() -> None:
    assert set(rules.TRANSITIONS) == set(S)
    assert rules.can_move(S.PENDING, S.PROCESSING)
    assert rules.can_move(S.PROCESSING, S.SUCCEEDED)
    assert rules.can_move(S.PROCESSING, S.REQUIRES_ACTION)
    assert rules.can_move(S.PROCESSING, S.FAILED)
    assert rules.can_move(S.FAILED, S.PROCESSING)  # a retry
    assert rules.can_move(S.SUCCEEDED, S.REFUNDED)
    assert rules.can_move(S.SUCCEEDED, S.DISPUTED)
    assert not rules.can_move(S.SUCCEEDED, S.FAILED)  # an old decline never wins
    assert not rules.can_move(S.SUCCEEDED, S.PROCESSING)  # never charged twice
    assert not rules.can_move(S.REFUNDED, S.SUCCEEDED)
    assert not rules.can_move(S.PENDING, S.SUCCEEDED)  # only through an attempt
    assert {S.WAIVED, S.WITHHELD, S.REFUNDED} == rules.FINAL


@pytest.mark.parametrize(
    ("status", "code", "state"),
    [
        ("succeeded", None, S.SUCCEEDED),
        ("processing", None, S.PROCESSING),
        ("requires_action", None, S.REQUIRES_ACTION),
        ("requires_payment_method", "authentication_required", S.REQUIRES_ACTION),
        ("requires_payment_method", "card_declined", S.FAILED),
        ("requires_payment_method", None, None),
        ("canceled", None, S.FAILED),
        ("something_new", None, None),
    ],
)
def test_what_an_intent_says(status: str, code: str | None, state: S | None) -> None:
    assert rules.state_of_intent(status, code) is state


@given(
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=1, max_value=10**12),
)
def test_a_reversals_share_is_the_exact_proportion_rounded_half_up(
    commission: int, reversed_minor: int, recovered: int
) -> None:
    exact = Fraction(commission * reversed_minor, recovered)
    expected = (exact + Fraction(1, 2)).__floor__()
    assert rules.reversal_share(commission, reversed_minor, recovered, 10**30) == expected
    assert rules.reversal_share(commission, reversed_minor, recovered, 7) <= 7


@given(st.integers(min_value=1, max_value=10**9), rates, st.lists(st.integers(1, 10**6)))
def test_reversals_never_take_back_more_than_the_commission(
    recovered: int, bps: int, parts: list[int]
) -> None:
    commission = rules.commission_minor(recovered, bps)
    left = commission
    for part in parts:
        left -= rules.reversal_share(commission, part, recovered, left)
        assert 0 <= left <= commission


def test_reversal_examples() -> None:
    assert rules.reversal_share(2000, 3333, 10_000, 2000) == 667  # 666.6
    assert rules.reversal_share(2000, 2500, 10_000, 2000) == 500
    assert rules.reversal_share(1, 1, 2, 1) == 1  # 0.5 goes up
    assert rules.reversal_share(2469, 12_345, 12_345, 100) == 100  # at most what is left
    assert rules.refund_key("r1") == "commission_refund:r1"
    assert rules.can_move(S.NO_CARD, S.WAIVED) and rules.can_move(S.FAILED, S.WAIVED)
    with pytest.raises(ValueError, match="positive amounts"):
        rules.reversal_share(1, 1, 0, 1)
