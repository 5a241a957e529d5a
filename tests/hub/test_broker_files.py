"""Broker password/ACL files are replaced atomically and stay readable by the broker's user."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from hub.broker_auth import replace_broker_file


def _broker_account() -> pwd.struct_passwd:
    if os.geteuid() != 0:
        pytest.skip("needs root: giving a file to another user is what is tested")
    for name in ("mosquitto", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("no 'mosquitto' or 'nobody' user")


def test_replacing_keeps_the_owner_and_mode_the_operator_gave_the_file(tmp_path: Path) -> None:
    account = _broker_account()
    path = tmp_path / "mehr.passwd"
    path.write_text("mehr-hub:old\n")
    os.chown(path, 0, account.pw_gid)
    path.chmod(0o640)  # root:mosquitto 0640, a common hand-made layout
    replace_broker_file(path, "mehr-hub:old\nkit-1:new\n", account.pw_name)
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, account.pw_gid, 0o640)
    assert path.read_text() == "mehr-hub:old\nkit-1:new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mehr.passwd"]  # no temp file left


def test_a_new_file_belongs_to_the_broker_user_alone(tmp_path: Path) -> None:
    account = _broker_account()
    path = tmp_path / "mehr.acl"
    replace_broker_file(path, "user kit-1\n", account.pw_name)
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (account.pw_uid, account.pw_gid, 0o600)


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "mehr.passwd"
    path.write_text("mehr-hub:old\n")
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate cannot be written, mid-file
        replace_broker_file(path, "kit-1:\udcff\n", pwd.getpwuid(os.getuid()).pw_name)
    assert path.read_text() == "mehr-hub:old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mehr.passwd"]
