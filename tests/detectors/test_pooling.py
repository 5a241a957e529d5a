"""Pooled limits: vectorised over homes, sane where a home is sparse, budgets ordered."""

from __future__ import annotations

import numpy as np

from detectors.pooling import BASE_S, SilenceStats, pooled_limits, population_prior
from detectors.routine import (
    N_BINS,
    N_CHANNELS,
    Place,
    answer_rate_estimate,
    default_prior,
    home_silence_stats,
    learn_routine,
)
from tests.detectors.homes import live, local


def _stats(seed: int) -> SilenceStats:
    return home_silence_stats(live(28, seed=seed).events(), local(28, 0.0))


def test_many_homes_at_once_equal_one_home_at_a_time() -> None:
    homes = [_stats(s) for s in range(4)]
    stacked = SilenceStats(
        np.stack([h.count for h in homes]),
        np.stack([h.excess_s for h in homes]),
        np.array([float(h.days) for h in homes]),
        np.stack([h.present for h in homes]),
    )
    budgets = np.array([0.01, 0.2])
    together, _, _ = pooled_limits(stacked, default_prior(), budgets)
    assert together.shape == (2, 4, N_CHANNELS, N_BINS)
    for i, h in enumerate(homes):
        alone, _, _ = pooled_limits(h, default_prior(), budgets)
        np.testing.assert_allclose(together[:, i], alone)


def test_a_bigger_budget_means_lower_limits_everywhere() -> None:
    limits, _, _ = pooled_limits(_stats(1), default_prior(), np.array([0.01, 0.2, 1.0]))
    assert np.all(limits[0] >= limits[1]) and np.all(limits[1] >= limits[2])
    assert np.all(limits >= BASE_S)


def test_an_hour_never_seen_borrows_from_its_neighbours_and_the_prior() -> None:
    stats = _stats(2)
    count, excess = stats.count.copy(), stats.excess_s.copy()
    kitchen = int(Place.KITCHEN)
    count[kitchen, 15] = 0.0  # a home that was never quiet in the kitchen at 15:00
    excess[kitchen, 15] = 0.0
    sparse = SilenceStats(count, excess, stats.days, stats.present)
    limits, _, _ = pooled_limits(sparse, default_prior(), np.array([0.01]))
    row = limits[0, kitchen]
    assert row[14] * 0.5 < row[15] < row[14] * 2.0, "no cliff at the empty hour"


def test_a_population_prior_moves_a_short_history_towards_the_population() -> None:
    population = [_stats(s) for s in range(3)]
    stacked = SilenceStats(
        np.stack([h.count for h in population]),
        np.stack([h.excess_s for h in population]),
        np.array([float(h.days) for h in population]),
        np.stack([h.present for h in population]),
    )
    prior = population_prior(stacked, default_prior())
    assert prior.mean_excess_s.shape == (N_CHANNELS, N_BINS)
    assert np.all(np.isfinite(prior.mean_excess_s)) and np.all(prior.mean_excess_s > 0)
    short = live(15, seed=9).events()
    with_prior = learn_routine(short, local(15, 0.0), prior=prior)
    assert with_prior.learned and np.all(np.isfinite(with_prior.threshold_s))


def test_a_resident_who_misses_the_buzzer_is_asked_less_low() -> None:
    assert answer_rate_estimate(0, 0) == 0.95
    assert answer_rate_estimate(10, 10) < 0.8
    good = learn_routine(live(28, seed=3).events(), local(28, 0.0), answer_rate=0.95)
    poor = learn_routine(live(28, seed=3).events(), local(28, 0.0), answer_rate=0.7)
    assert np.all(poor.ask_threshold_s >= good.ask_threshold_s)
    assert np.any(poor.ask_threshold_s > good.ask_threshold_s)
