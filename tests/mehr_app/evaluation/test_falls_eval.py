"""SisFall reading and the train/evaluate/cross-validate pipeline on a tiny synthetic dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from detectors.loader import load_fall_params
from mehr_app.evaluation.falls import cross_validate, evaluate, train
from mehr_app.evaluation.sisfall import SisFallError, list_trials, read_adxl345
from tests.detectors import signals

COUNTS_PER_G = 8192 / 32


def write_trial(path: Path, acc_g: np.ndarray) -> None:
    """Write a 200 Hz recording in SisFall's row format (ADXL345 counts in the first columns)."""
    counts = np.round(acc_g * COUNTS_PER_G).astype(int)
    rows = [f"{x},{y},{z},0,0,0,{x},{y},{z};" for x, y, z in counts]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="ascii")


@pytest.fixture(scope="module")
def sisfall(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four subjects, each with two falls and two daily activities, 200 Hz."""
    root = tmp_path_factory.mktemp("sisfall")
    for n, subject in enumerate(["SA01", "SA02", "SE01", "SE06"]):
        for rep in (1, 2):
            seed = 10 * n + rep
            fall = np.concatenate([signals.walking(3, 200.0, seed=seed), signals.fall(200.0, seed)])
            write_trial(root / subject / f"F01_{subject}_R0{rep}.txt", fall)
            write_trial(root / subject / f"D01_{subject}_R0{rep}.txt",
                        signals.walking(20, 200.0, amp=0.3, seed=seed))
            write_trial(root / subject / f"D08_{subject}_R0{rep}.txt",
                        signals.hard_sit(200.0, seed))
    # The original release names SA15's D17 files SE15: the directory is what counts.
    write_trial(root / "SA02" / "D17_SE15_R01.txt", signals.walking(12, 200.0))
    (root / "Readme.txt").write_text("not a trial", encoding="ascii")
    return root


def test_reader_converts_counts_to_g_and_lists_trials(sisfall: Path) -> None:
    trials = list_trials(sisfall)
    assert len(trials) == 4 * 6 + 1
    odd = next(t for t in trials if t.path.name == "D17_SE15_R01.txt")
    assert odd.subject == "SA02"
    assert odd.group == "SA"
    acc = read_adxl345(trials[0].path)
    assert acc.shape[1] == 3
    assert np.median(np.linalg.norm(acc, axis=1)) == pytest.approx(1.0, abs=0.1)


def test_reader_refuses_a_directory_without_trials(tmp_path: Path) -> None:
    with pytest.raises(SisFallError):
        list_trials(tmp_path)
    with pytest.raises(SisFallError):
        list_trials(tmp_path / "missing")


def test_ragged_rows_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "SA01" / "D01_SA01_R01.txt"
    path.parent.mkdir()
    path.write_text("256,-256,0,1,2,3,4,5,6;\n1,2;\n0,-256,0,1,2,3,4,5,6;\n", encoding="ascii")
    acc = read_adxl345(path)
    np.testing.assert_allclose(acc, [[1.0, -1.0, 0.0], [0.0, -1.0, 0.0]])


def test_evaluate_uses_shipped_parameters_and_reports_per_code_and_group(sisfall: Path) -> None:
    result = evaluate(sisfall)
    assert result["trials"] == 25
    assert result["falls"] == 8
    assert result["adls"] == 17
    assert result["sensitivity"] == 1.0
    assert result["specificity"] == 1.0
    per_group = result["per_group"]
    assert isinstance(per_group, dict)
    assert set(per_group) == {"SA", "SE"}
    per_activity = result["per_activity"]
    assert isinstance(per_activity, dict)
    assert set(per_activity) == {"F01", "D01", "D08", "D17"}
    assert 0 < float(result["seconds_per_window"]) < 1  # type: ignore[arg-type]
    json.dumps(result)


def test_train_writes_a_loadable_parameter_file(sisfall: Path, tmp_path: Path) -> None:
    out = tmp_path / "falls.json"
    summary = train(sisfall, out)
    assert summary["written"] == str(out)
    params = load_fall_params(out)
    assert params.rate_hz == 50.0
    json.dumps(summary)


def test_cross_validation_holds_subjects_out(sisfall: Path) -> None:
    result = cross_validate(sisfall, folds=2)
    folds = result["folds"]
    assert isinstance(folds, list)
    assert sorted(s for f in folds for s in f) == ["SA01", "SA02", "SE01", "SE06"]
    assert all(any(s.startswith("SE") for s in f) for f in folds)
    # Eight falls are too few for the shipped regularisation to reach the threshold: only the
    # bookkeeping is checked here; the real figures come from SisFall (docs/detectors.md).
    assert result["trials"] == 25
    assert 0.0 <= float(result["sensitivity"]) <= 1.0  # type: ignore[arg-type]
    assert 0.0 <= float(result["specificity"]) <= 1.0  # type: ignore[arg-type]


def _same_shape(result: dict[str, object]) -> None:
    """The keys every falls evaluation has had (the rotation section comes on top)."""
    for key in ("trials", "falls", "adls", "detected", "false_alarms", "sensitivity",
                "specificity", "accuracy", "per_activity", "per_group", "missed_falls",
                "false_alarm_trials", "rate_hz", "windows", "trigger"):
        assert key in result, key


def test_evaluate_under_random_rotations_reports_them_next_to_the_unrotated(
    sisfall: Path,
) -> None:
    result = evaluate(sisfall, rotate="random", seed=3)
    _same_shape(result)
    rotation = result["rotation"]
    assert isinstance(rotation, dict)
    assert rotation["mode"] == "random"
    assert rotation["seed"] == 3
    per_trial, per_wearer = rotation["per_trial"], rotation["per_wearer"]
    any_orientation = result["any_orientation"]
    assert isinstance(per_trial, dict) and isinstance(per_wearer, dict)
    assert isinstance(any_orientation, dict)
    # Rotating every trial on its own changes no verdict of the any-orientation coefficients...
    assert per_trial["false_alarm_trials"] == any_orientation["false_alarm_trials"]
    assert per_trial["missed_falls"] == any_orientation["missed_falls"]
    assert float(rotation["max_logit_change_any_orientation"]) < 1e-6  # type: ignore[arg-type]
    # ...and a wearer's upright learned from their rotated walking turns with the sensor.
    assert float(rotation["upright_error_deg_max"]) < 1.0  # type: ignore[arg-type]
    assert per_wearer["sensitivity"] == result["sensitivity"] == 1.0
    assert per_wearer["specificity"] == result["specificity"] == 1.0
    learned = result["learned_upright"]
    assert isinstance(learned, dict)
    assert set(learned) == {"SA01", "SA02", "SE01", "SE06"}
    assert all(v is not None for v in learned.values())
    assert "rotation" not in evaluate(sisfall)
    json.dumps(result)


def test_unknown_rotation_mode_is_refused(sisfall: Path) -> None:
    with pytest.raises(ValueError, match="rotate"):
        evaluate(sisfall, rotate="sideways")


def test_cli_eval_falls_rotate_random_with_seed_prints_the_rotation_section(
    sisfall: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mehr_app.cli import main

    argv = ["eval", "falls", "--sisfall", str(sisfall), "--rotate", "random", "--seed", "5"]
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["rotation"]["seed"] == 5
    assert printed["rotation"]["per_trial"]["trials"] == 25
    _same_shape(printed)


def test_cross_validation_under_rotation_fits_and_scores_every_view(sisfall: Path) -> None:
    result = cross_validate(sisfall, folds=2, rotate="random", seed=1)
    _same_shape(result)
    rotation = result["rotation"]
    assert isinstance(rotation, dict)
    for view in ("per_trial", "per_wearer"):
        assert rotation[view]["trials"] == 25
    # The same features up to rounding, the same fits: the same verdicts.
    any_orientation = result["any_orientation"]
    assert isinstance(any_orientation, dict)
    assert rotation["per_trial"]["false_alarm_trials"] == any_orientation["false_alarm_trials"]
