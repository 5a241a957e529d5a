"""Replacing a file in one step, for every file the project rewrites that something else reads
(the broker's password and ACL files, a kit's password, the scan's memory)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["OwnerRefused", "replace_file"]


class OwnerRefused(PermissionError):
    """The new file could not be given to its owner (not root, not the file's owner)."""


def replace_file(
    path: Path,
    content: bytes | Callable[[BinaryIO], None],
    *,
    mode: int = 0o600,
    owner: tuple[int, int] | None = None,
) -> None:
    """Replace `path` with `content` (bytes, or a function writing to the open file).

    Written to a temporary file of this call's own in the same directory, flushed to disk,
    given `mode` and `owner` (uid, gid), renamed over `path`, then the directory synced: a
    reader sees the old file or the new one, never half of one, and the rename survives a
    power cut. Two writers at once each rename a whole file. On any failure the temporary file
    is removed and `path` is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            if isinstance(content, bytes):
                out.write(content)
            else:
                content(out)
            out.flush()
            os.fsync(out.fileno())
            if owner is not None and owner != (os.getuid(), os.getgid()):
                try:
                    os.fchown(out.fileno(), *owner)
                except PermissionError as exc:
                    raise OwnerRefused(str(exc)) from None
            os.fchmod(out.fileno(), mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
