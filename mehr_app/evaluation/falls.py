"""Train and evaluate the fall detector on SisFall, trial by trial, the way the kit would see it.

Each trial is resampled to the evaluation rate, the kit's cheap trigger (`detectors.fall.TRIGGER`)
picks impacts, a 12 s window is cut around each and classified; a trial is a detected fall if any
of its windows is a fall, and an ADL trial with any fall window is a false alarm.

The wearer's upright direction is learned from each subject's own windows (gravity while
walking, no labels), as the hub would from a kit's. Figures are also given with the upright
unknown (`any_orientation`) and, with `rotate="random"`, under random 3-D rotations of the
recordings: each trial rotated on its own (upright unknown), and each wearer's trials rotated
together (the sensor clipped on once, upright learned from the rotated windows).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation

from detectors.fall import (
    TRIGGER,
    FallFeatures,
    FallParams,
    classify_features,
    classify_windows,
    extract_windows,
    fall_features,
    fit_fall_classifier,
    learn_upright,
    trigger_impacts,
)
from detectors.loader import default_fall_params_path, load_fall_params
from mehr_app.evaluation.sisfall import Trial, iter_trials

__all__ = ["ROTATE_MODES", "cross_validate", "evaluate", "train"]

_LOGGER = logging.getLogger(__name__)

#: Regularisation and decision threshold (on the logit) used by `train`; chosen by
#: subject-wise cross-validation (see docs/detectors.md), never on held-back subjects.
L2 = 100.0
THRESHOLD = 1.0
#: A kit sends a window only once it has recorded what follows the impact. A SisFall recording
#: simply stops, so an impact in its last seconds has no "after": such impacts are not sent.
#: Every SisFall fall's impact has at least 2.2 s after it.
MIN_POST_S = 2.0
#: `rotate` options: None (as recorded only) or "random" (also under random 3-D rotations).
ROTATE_MODES = ("random",)


@dataclass(slots=True)
class _Windows:
    """Every trial's windows, flattened, with the trial each window came from."""

    trials: list[Trial]
    windows: npt.NDArray[np.float64]  # (W, N, 3)
    owner: npt.NDArray[np.intp]  # (W,) index into trials


def _load(sisfall_dir: Path, rate_hz: float, subjects: set[str] | None = None) -> _Windows:
    trials: list[Trial] = []
    chunks: list[npt.NDArray[np.float64]] = []
    owners: list[npt.NDArray[np.intp]] = []
    for trial, acc in iter_trials(sisfall_dir, rate_hz, subjects):
        impacts = trigger_impacts(acc, rate_hz, TRIGGER)
        impacts = impacts[impacts + MIN_POST_S * rate_hz <= acc.shape[0]]
        trials.append(trial)
        if impacts.size:
            chunks.append(extract_windows(acc, rate_hz, impacts, TRIGGER))
            owners.append(np.full(impacts.size, len(trials) - 1, dtype=np.intp))
    length = round((TRIGGER.pre_s + TRIGGER.post_s) * rate_hz)
    windows = np.concatenate(chunks) if chunks else np.zeros((0, length, 3))
    owner = np.concatenate(owners) if owners else np.zeros(0, dtype=np.intp)
    return _Windows(trials, windows, owner)


def _labels(data: _Windows) -> npt.NDArray[np.float64]:
    return np.array([data.trials[o].is_fall for o in data.owner], dtype=np.float64)


def _fit(features: FallFeatures, labels: npt.NDArray[np.float64]) -> FallParams:
    return fit_fall_classifier(features, labels, l2=L2, threshold=THRESHOLD)


def _subset(features: FallFeatures, mask: npt.NDArray[np.bool_]) -> FallFeatures:
    return FallFeatures(
        values=features.values[mask],
        impact_index=features.impact_index[mask],
        saturated=features.saturated[mask],
        rate_hz=features.rate_hz,
        upright_known=features.known()[mask],
    )


def _score(
    trials: Sequence[Trial], owner: npt.NDArray[np.intp], window_is_fall: npt.NDArray[np.bool_]
) -> dict[str, object]:
    """Trial-level figures overall, per activity code and per subject group."""
    flagged = np.zeros(len(trials), dtype=bool)
    np.logical_or.at(flagged, owner, window_is_fall)
    falls = np.array([t.is_fall for t in trials], dtype=bool)
    per_code: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    per_group: dict[str, dict[str, int]] = defaultdict(
        lambda: {"falls": 0, "detected": 0, "adls": 0, "false_alarms": 0}
    )
    missed: list[str] = []
    false_alarms: list[str] = []
    for trial, hit in zip(trials, flagged, strict=True):
        per_code[trial.code][0] += 1
        per_code[trial.code][1] += int(hit)
        g = per_group[trial.group]
        if trial.is_fall:
            g["falls"] += 1
            g["detected"] += int(hit)
            if not hit:
                missed.append(trial.path.name)
        else:
            g["adls"] += 1
            g["false_alarms"] += int(hit)
            if hit:
                false_alarms.append(trial.path.name)
    n_falls = int(falls.sum())
    n_adls = int((~falls).sum())
    tp = int((flagged & falls).sum())
    fp = int((flagged & ~falls).sum())
    groups: dict[str, object] = {}
    for name, g in sorted(per_group.items()):
        groups[name] = {
            **g,
            "sensitivity": g["detected"] / g["falls"] if g["falls"] else None,
            "specificity": 1 - g["false_alarms"] / g["adls"] if g["adls"] else None,
        }
    codes: dict[str, object] = {}
    for code, (n, hits) in sorted(per_code.items()):
        key = "detected" if code.startswith("F") else "false_alarms"
        codes[code] = {"trials": n, key: hits, "rate": hits / n}
    return {
        "trials": len(trials),
        "falls": n_falls,
        "adls": n_adls,
        "detected": tp,
        "false_alarms": fp,
        "sensitivity": tp / n_falls if n_falls else None,
        "specificity": 1 - fp / n_adls if n_adls else None,
        "accuracy": (tp + n_adls - fp) / len(trials) if trials else None,
        "per_activity": codes,
        "per_group": groups,
        "missed_falls": missed,
        "false_alarm_trials": false_alarms,
    }


@dataclass(frozen=True, slots=True)
class _Scenario:
    """How the windows are seen: rotated or not, and the wearer's upright per window (or NaN)."""

    name: str
    windows: npt.NDArray[np.float64]
    upright: npt.NDArray[np.float64]  # (W, 3); NaN rows: unknown


def _learned_uprights(
    data: _Windows, windows: npt.NDArray[np.float64], rate_hz: float
) -> tuple[npt.NDArray[np.float64], dict[str, object]]:
    """Each wearer's upright learned from their own windows (unsupervised) as (W, 3) rows."""
    rows = np.full((windows.shape[0], 3), np.nan)
    subject_of_window = np.array([data.trials[o].subject for o in data.owner])
    summary: dict[str, object] = {}
    for subject in sorted({t.subject for t in data.trials}):
        mine = subject_of_window == subject
        estimate = learn_upright(windows[mine], rate_hz) if mine.any() else None
        if estimate is None:
            summary[subject] = None
            continue
        rows[mine] = estimate.direction
        summary[subject] = {
            "direction": [round(v, 3) for v in estimate.direction],
            "walking_blocks": estimate.blocks,
            "spread_deg": round(estimate.spread_deg, 1),
        }
    return rows, summary


def _rotated(
    data: _Windows, seed: int, *, per_wearer: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Windows turned by uniformly random rotations: one per trial, or one per wearer."""
    rng = np.random.default_rng(seed)
    if per_wearer:
        subjects = sorted({t.subject for t in data.trials})
        per_subject = Rotation.random(len(subjects), random_state=rng).as_matrix()
        index = {s: i for i, s in enumerate(subjects)}
        matrices = per_subject[[index[t.subject] for t in data.trials]]
    else:
        matrices = Rotation.random(len(data.trials), random_state=rng).as_matrix()
    turned = np.einsum("wij,wnj->wni", matrices[data.owner], data.windows)
    return np.asarray(turned, dtype=np.float64), np.asarray(matrices, dtype=np.float64)


def _scenarios(
    data: _Windows, rate_hz: float, rotate: str | None, seed: int
) -> tuple[list[_Scenario], dict[str, object]]:
    """The ways the evaluation looks at the same windows; the first is the headline one."""
    if rotate is not None and rotate not in ROTATE_MODES:
        raise ValueError(f"rotate must be one of {ROTATE_MODES} or None, got {rotate!r}")
    unknown = np.full((data.windows.shape[0], 3), np.nan)
    learned, learned_summary = _learned_uprights(data, data.windows, rate_hz)
    scenarios = [
        _Scenario("as_recorded", data.windows, learned),
        _Scenario("any_orientation", data.windows, unknown),
    ]
    info: dict[str, object] = {"learned_upright": learned_summary}
    if rotate is not None:
        per_trial, _ = _rotated(data, seed, per_wearer=False)
        scenarios.append(_Scenario("rotated_per_trial", per_trial, unknown))
        per_wearer, matrices = _rotated(data, seed, per_wearer=True)
        learned_rot, _ = _learned_uprights(data, per_wearer, rate_hz)
        scenarios.append(_Scenario("rotated_per_wearer", per_wearer, learned_rot))
        # The learned upright must turn with the sensor: compare it with R @ learned.
        expected = np.einsum("wij,wj->wi", matrices[data.owner], learned)
        both = np.isfinite(expected[:, 0]) & np.isfinite(learned_rot[:, 0])
        cos = np.einsum("wi,wi->w", expected[both], learned_rot[both])
        error = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
        info["upright_error_deg_max"] = float(error.max()) if error.size else None
    return scenarios, info


def _features(scenario: _Scenario, rate_hz: float) -> FallFeatures:
    return fall_features(scenario.windows, rate_hz, upright=scenario.upright)


def _report(
    data: _Windows,
    verdicts: dict[str, npt.NDArray[np.bool_]],
    logits: dict[str, npt.NDArray[np.float64]],
    rotate: str | None,
    seed: int,
    info: dict[str, object],
) -> dict[str, object]:
    """The headline figures (as recorded, upright learned) plus the other views beside them."""
    result = _score(data.trials, data.owner, verdicts["as_recorded"])
    result["any_orientation"] = _score(data.trials, data.owner, verdicts["any_orientation"])
    result["learned_upright"] = info["learned_upright"]
    if rotate is not None:
        change = np.abs(logits["rotated_per_trial"] - logits["any_orientation"])
        result["rotation"] = {
            "mode": rotate,
            "seed": seed,
            "per_trial": _score(data.trials, data.owner, verdicts["rotated_per_trial"]),
            "per_wearer": _score(data.trials, data.owner, verdicts["rotated_per_wearer"]),
            "max_logit_change_any_orientation": float(change.max()) if change.size else 0.0,
            "upright_error_deg_max": info["upright_error_deg_max"],
        }
    return result


def train(sisfall_dir: Path, out: Path | None = None, rate_hz: float = 50.0) -> dict[str, object]:
    """Fit the fall classifier on all trials in `sisfall_dir` and write the parameter file.

    The tilts are measured against each wearer's upright learned from their own walking.
    """
    data = _load(sisfall_dir, rate_hz)
    learned, learned_summary = _learned_uprights(data, data.windows, rate_hz)
    features = fall_features(data.windows, rate_hz, upright=learned)
    labels = _labels(data)
    params = _fit(features, labels)
    target = Path(out) if out is not None else default_fall_params_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(params.to_dict(), indent=2) + "\n", encoding="utf-8")
    _LOGGER.info("fall parameters written to %s", target)
    subjects = sorted({t.subject for t in data.trials})
    names = features.names
    return {
        "written": str(target),
        "rate_hz": rate_hz,
        "subjects": subjects,
        "trials": len(data.trials),
        "windows": int(labels.size),
        "fall_windows": int(labels.sum()),
        "coef": dict(zip(names, params.coef.round(4).tolist(), strict=True)),
        "intercept": round(params.intercept, 4),
        "free_coef": dict(zip(names, params.free_coef.round(4).tolist(), strict=True)),
        "free_intercept": round(params.free_intercept, 4),
        "learned_upright": learned_summary,
    }


def evaluate(
    sisfall_dir: Path, rate_hz: float = 50.0, *, rotate: str | None = None, seed: int = 0
) -> dict[str, object]:
    """Evaluate the shipped parameters (never fits) on every trial in `sisfall_dir`."""
    params = load_fall_params()
    data = _load(sisfall_dir, rate_hz)
    scenarios, info = _scenarios(data, rate_hz, rotate, seed)
    verdicts: dict[str, npt.NDArray[np.bool_]] = {}
    logits: dict[str, npt.NDArray[np.float64]] = {}
    elapsed = 0.0
    for scenario in scenarios:
        if not data.windows.shape[0]:
            verdicts[scenario.name] = np.zeros(0, dtype=bool)
            logits[scenario.name] = np.zeros(0)
            continue
        started = time.perf_counter()
        # The hub's path: windows and the wearer's upright in, verdicts out.
        batch = classify_windows(scenario.windows, rate_hz, params, upright=scenario.upright)
        if scenario.name == "as_recorded":
            elapsed = time.perf_counter() - started
        verdicts[scenario.name] = batch.is_fall
        logits[scenario.name] = batch.logit
    result = _report(data, verdicts, logits, rotate, seed, info)
    result.update(
        {
            "rate_hz": rate_hz,
            "windows": int(data.windows.shape[0]),
            "seconds_per_window": elapsed / max(1, data.windows.shape[0]),
            "trigger": _trigger_summary(),
        }
    )
    return result


def _trigger_summary() -> dict[str, float]:
    return {
        "threshold_g": TRIGGER.threshold_g,
        "peak_search_s": TRIGGER.peak_search_s,
        "holdoff_s": TRIGGER.holdoff_s,
        "pre_s": TRIGGER.pre_s,
        "post_s": TRIGGER.post_s,
    }


def _folds(subjects: Iterable[str], folds: int) -> list[set[str]]:
    """Deal subjects into folds round-robin, SA and SE separately, so each fold has both."""
    out: list[set[str]] = [set() for _ in range(folds)]
    for i, subject in enumerate(sorted(subjects, key=lambda s: (s[:2], s))):
        out[i % folds].add(subject)
    return out


def cross_validate(
    sisfall_dir: Path,
    rate_hz: float = 50.0,
    folds: int = 5,
    *,
    rotate: str | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """Subject-wise cross-validation: fit on the other folds' subjects, score the held-out ones.

    Every view (as recorded, any orientation, rotated) is fitted and scored the same way on its
    own features, so a rotated figure is what a model trained and used that way would reach.
    """
    data = _load(sisfall_dir, rate_hz)
    labels = _labels(data)
    subject_of_window = np.array([data.trials[o].subject for o in data.owner])
    fold_sets = _folds({t.subject for t in data.trials}, folds)
    scenarios, info = _scenarios(data, rate_hz, rotate, seed)
    verdicts: dict[str, npt.NDArray[np.bool_]] = {}
    logits: dict[str, npt.NDArray[np.float64]] = {}
    for scenario in scenarios:
        features = _features(scenario, rate_hz)
        is_fall = np.zeros(labels.size, dtype=bool)
        logit = np.zeros(labels.size)
        for held_out in fold_sets:
            test = np.isin(subject_of_window, sorted(held_out))
            params = _fit(_subset(features, ~test), labels[~test])
            batch = classify_features(_subset(features, test), params)
            is_fall[test] = batch.is_fall
            logit[test] = batch.logit
        verdicts[scenario.name] = is_fall
        logits[scenario.name] = logit
    result = _report(data, verdicts, logits, rotate, seed, info)
    result.update(
        {
            "rate_hz": rate_hz,
            "folds": [sorted(f) for f in fold_sets],
            "windows": int(labels.size),
            "trigger": _trigger_summary(),
        }
    )
    return result
