"""CLI subcommands of the kit: `mehr edge` (the agent) and `mehr kit` (the installer's tools)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `edge` and `kit` subcommands to the `mehr` parser."""
