"""CLI subcommands of the simulators: `mehr simulate …` and `mehr replay`."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands to the `mehr` parser."""
