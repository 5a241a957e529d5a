"""Errors the detectors raise: one root, each also a ValueError so callers may catch either."""

from __future__ import annotations

__all__ = [
    "BadParameters",
    "BadShape",
    "DetectorError",
    "EmptyInput",
    "NonFiniteInput",
    "WindowTooShort",
]


class DetectorError(ValueError):
    """Root of every error a detector raises on bad input."""


class EmptyInput(DetectorError):
    """The input holds no samples or no windows."""


class BadShape(DetectorError):
    """The input array does not have the shape the detector needs."""


class NonFiniteInput(DetectorError):
    """The input holds NaN or infinite values."""


class WindowTooShort(DetectorError):
    """The window is shorter than the detector needs to see around an impact."""


class BadParameters(DetectorError):
    """A parameter file or parameter set is malformed or does not match this detector."""
