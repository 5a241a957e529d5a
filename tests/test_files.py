"""mehr.files.replace_file: a reader sees the old file or the new one, and a failed write leaves
the old file and no temporary file."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pytest

from mehr.files import replace_file


def test_a_file_is_replaced_whole_with_its_mode_and_nothing_left_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "passwd"
    target.write_text("old\n")
    replace_file(target, b"new\n", mode=0o640)
    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["passwd"]


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "memory.npz"
    target.write_bytes(b"old")

    def half_then_fail(out: BinaryIO) -> None:
        out.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_file(target, half_then_fail)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memory.npz"]
