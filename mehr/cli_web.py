"""CLI subcommands of the web app and accounts: `mehr web`, `mehr user`, `mehr registry`."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add this module's subcommands to the `mehr` parser."""
