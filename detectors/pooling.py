"""Silence limits per room and hour, pooled so that two weeks of one home are enough.

Each home's history is summarised per channel (a place's free silences, or a place's seat/bed
mat occupied) and per hour of the day by three numbers: how many silences (or sittings) longer
than `BASE_S` started there, the sum of their excess over `BASE_S`, and the days observed. The
tail above `BASE_S` is modelled as exponential (the waiting time of a person who is about; the
long, sedentary silences are what the mats capture), with its mean excess shrunk towards the
neighbouring hours of the same room and towards a population prior, so a sparse hour borrows
strength and a busy one speaks for itself. Every channel-hour then gets the same chance per
silence of being exceeded, chosen so the expected exceedances per day meet a budget (false
alerts, or check-in prompts). All of it is numpy over homes x channels x hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "BASE_S",
    "PoolingPrior",
    "SilenceStats",
    "pooled_limits",
    "population_prior",
    "silence_stats",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

#: Silences shorter than this say nothing about the tail.
BASE_S = 600.0
# Weight of the same room's hours 0, 1 and 2 away: a routine drifts by an hour, not by six.
_KERNEL = (1.0, 0.5, 0.25)


@dataclass(frozen=True, slots=True)
class SilenceStats:
    """Sufficient statistics of one or many homes: arrays (..., channels, hours)."""

    count: FloatArray  # silences longer than BASE_S that started in the cell
    excess_s: FloatArray  # their summed excess over BASE_S
    days: FloatArray  # (...,) days observed
    present: BoolArray  # (..., channels) the home has this channel at all


@dataclass(frozen=True, slots=True)
class PoolingPrior:
    """What a population of homes says before this home has spoken (per channel and hour)."""

    mean_excess_s: FloatArray  # (channels, hours) prior mean excess over BASE_S
    rate_per_day: FloatArray  # (channels, hours) prior silences > BASE_S per day
    weight: float = 4.0  # pseudo-silences the prior is worth
    rate_weight_days: float = 2.0  # pseudo-days the prior rate is worth


def silence_stats(
    durations_s: FloatArray,
    channels: IntArray,
    hours: IntArray,
    n_channels: int,
    n_hours: int,
    days: float,
    present: BoolArray,
) -> SilenceStats:
    """Summarise one home's silences (duration, channel and starting hour of each)."""
    long = durations_s > BASE_S
    flat = channels[long] * n_hours + hours[long]
    size = n_channels * n_hours
    count = np.bincount(flat, minlength=size).astype(np.float64)
    excess = np.bincount(flat, weights=durations_s[long] - BASE_S, minlength=size)
    return SilenceStats(
        count.reshape(n_channels, n_hours),
        np.asarray(excess, dtype=np.float64).reshape(n_channels, n_hours),
        np.asarray(days, dtype=np.float64),
        np.asarray(present, dtype=bool),
    )


def _smooth_hours(x: FloatArray) -> FloatArray:
    """Circular kernel over the last axis (hours of the same channel)."""
    out = _KERNEL[0] * x
    for lag, w in enumerate(_KERNEL[1:], start=1):
        out = out + w * (np.roll(x, lag, axis=-1) + np.roll(x, -lag, axis=-1))
    return np.asarray(out, dtype=np.float64)


def pooled_limits(
    stats: SilenceStats,
    prior: PoolingPrior,
    budgets_per_day: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Limits for each budget: (limits (K, ..., C, B), mean excess (..., C, B), rate (..., C, B)).

    `budgets_per_day` (K,) are expected exceedances per day the home may raise (e.g. worker
    false alerts, check-in prompts); each gives one set of limits from the same pooled model.
    """
    count = _smooth_hours(stats.count)
    excess = _smooth_hours(stats.excess_s)
    norm = float(sum(_KERNEL) + sum(_KERNEL[1:]))
    days = np.asarray(stats.days, dtype=np.float64)[..., None, None] * norm
    mean_excess = (excess + prior.weight * prior.mean_excess_s) / (count + prior.weight)
    rate = (count + prior.rate_weight_days * prior.rate_per_day) / (days + prior.rate_weight_days)
    rate = np.where(stats.present[..., None], rate, 0.0)
    total = rate.sum(axis=(-2, -1))  # expected silences > BASE_S per day, all cells
    budgets = np.asarray(budgets_per_day, dtype=np.float64).reshape(-1)
    limits = []
    for budget in budgets:
        # The same chance per silence everywhere: q * total = budget.
        q = np.clip(budget / np.maximum(total, 1e-9), 1e-12, 1.0)[..., None, None]
        limits.append(BASE_S + mean_excess * np.log(1.0 / q))
    return (
        np.asarray(np.stack(limits), dtype=np.float64),
        np.asarray(mean_excess, dtype=np.float64),
        np.asarray(rate, dtype=np.float64),
    )


def population_prior(
    stats: SilenceStats, fallback: PoolingPrior, weight: float = 4.0
) -> PoolingPrior:
    """A prior learned from many homes' statistics (stacked: (H, C, B)), over a fallback.

    The homes' silences are pooled cell by cell (and smoothed over neighbouring hours like a
    home's own); cells the population has not seen keep the fallback.
    """
    count = _smooth_hours(stats.count).sum(axis=0)
    excess = _smooth_hours(stats.excess_s).sum(axis=0)
    norm = float(sum(_KERNEL) + sum(_KERNEL[1:]))
    present = np.asarray(stats.present, dtype=bool)
    days = (np.asarray(stats.days, dtype=np.float64)[:, None] * present).sum(axis=0) * norm
    w = fallback.weight
    mean_excess = (excess + w * fallback.mean_excess_s) / (count + w)
    rate = np.where(
        days[:, None] > 0,
        (count + fallback.rate_weight_days * fallback.rate_per_day)
        / (days[:, None] + fallback.rate_weight_days),
        fallback.rate_per_day,
    )
    return PoolingPrior(
        mean_excess_s=np.asarray(mean_excess, dtype=np.float64),
        rate_per_day=np.asarray(rate, dtype=np.float64),
        weight=weight,
        rate_weight_days=fallback.rate_weight_days,
    )
