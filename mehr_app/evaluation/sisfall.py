"""Read the public SisFall dataset in its original layout (SXnn/Dyy_SXnn_Rzz.txt files)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import signal

__all__ = [
    "NATIVE_RATE_HZ",
    "SisFallError",
    "Trial",
    "iter_trials",
    "list_trials",
    "read_adxl345",
    "resample",
]

#: SisFall records every sensor at 200 Hz.
NATIVE_RATE_HZ = 200.0
#: ADXL345: 13 bit over +-16 g, so one count is 32 g / 2**13.
_ADXL345_G_PER_COUNT = 32.0 / 8192.0
_NAME = re.compile(r"^(?P<code>[DF]\d{2})_(?P<subject>S[AE]\d{2})_R(?P<trial>\d{2})\.txt$")


class SisFallError(ValueError):
    """A SisFall directory or file is not in the layout the dataset publishes."""


@dataclass(frozen=True, slots=True)
class Trial:
    """One SisFall recording: activity code (D01..D19, F01..F15), subject and repetition."""

    path: Path
    code: str
    subject: str
    repetition: int

    @property
    def is_fall(self) -> bool:
        """Whether the activity is one of the simulated falls (Fxx)."""
        return self.code.startswith("F")

    @property
    def group(self) -> str:
        """Subject group: SA (young adults) or SE (older adults)."""
        return self.subject[:2]


def list_trials(sisfall_dir: Path, subjects: set[str] | None = None) -> list[Trial]:
    """List the trials under `sisfall_dir`, sorted, optionally only for some subjects."""
    root = Path(sisfall_dir)
    if not root.is_dir():
        raise SisFallError(f"{root}: not a directory (expected the unpacked SisFall dataset)")
    trials: list[Trial] = []
    for path in sorted(root.glob("S[AE][0-9][0-9]/*.txt")):
        match = _NAME.match(path.name)
        if match is None:
            continue
        # The directory names the subject: the original release misnames SA15's D17 files as
        # SE15, and taking the file name would leak SA15's trials into another CV fold.
        subject = path.parent.name
        if subjects is not None and subject not in subjects:
            continue
        trials.append(Trial(path, match["code"], subject, int(match["trial"])))
    if not trials:
        raise SisFallError(f"{root}: no SisFall trial files (SXnn/Dyy_SXnn_Rzz.txt) found")
    return trials


def read_adxl345(path: Path) -> npt.NDArray[np.float64]:
    """Read one trial file and return the ADXL345 acceleration in g, shape (N, 3), at 200 Hz."""
    text = Path(path).read_text(encoding="ascii", errors="replace")
    # Rows end in ';' - turning it into ',' lets numpy parse the whole file in one C call.
    flat = np.fromstring(text.replace(";", ","), dtype=np.float64, sep=",")
    if flat.size == 0 or flat.size % 9 != 0:
        return _read_adxl345_by_line(path, text)
    return flat.reshape(-1, 9)[:, :3] * _ADXL345_G_PER_COUNT


def _read_adxl345_by_line(path: Path, text: str) -> npt.NDArray[np.float64]:
    """Slow path for a file with a ragged row: keep only complete 9-column rows."""
    rows = []
    for line in text.splitlines():
        fields = line.strip().rstrip(";").split(",")
        if len(fields) == 9:
            try:
                rows.append([float(f) for f in fields[:3]])
            except ValueError:
                continue
    if not rows:
        raise SisFallError(f"{path}: no complete rows of 9 columns")
    return np.asarray(rows, dtype=np.float64) * _ADXL345_G_PER_COUNT


def resample(acc: npt.NDArray[np.float64], from_hz: float, to_hz: float) -> npt.NDArray[np.float64]:
    """Resample (N, 3) samples from `from_hz` to `to_hz` with a polyphase filter."""
    if from_hz == to_hz:
        return acc
    ratio = Fraction(to_hz / from_hz).limit_denominator(1000)
    return np.asarray(
        signal.resample_poly(acc, ratio.numerator, ratio.denominator, axis=0), dtype=np.float64
    )


def iter_trials(
    sisfall_dir: Path, rate_hz: float, subjects: set[str] | None = None
) -> Iterator[tuple[Trial, npt.NDArray[np.float64]]]:
    """Yield each trial with its ADXL345 acceleration (g) resampled to `rate_hz`."""
    for trial in list_trials(sisfall_dir, subjects):
        yield trial, resample(read_adxl345(trial.path), NATIVE_RATE_HZ, rate_hz)
