"""Offline evaluation of the detectors on public recorded data (SisFall)."""
