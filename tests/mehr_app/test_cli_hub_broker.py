"""`mehr hub broker-users`: the broker gets the users hub.yaml names (the hub's and its urgent
lane's, one password, the hub's ACL block); a second run replaces them and keeps the kits'."""

from __future__ import annotations

import base64
import getpass
import hashlib
import secrets
from pathlib import Path

import pytest
import yaml

from hub.broker_auth import (
    BrokerUser,
    acl_text,
    hub_acl_rules,
    kit_acl_rules,
    password_line,
    with_acl_block,
    with_kit_blocks_refreshed,
)
from mehr_app.cli import main as mehr_main


def _hub_yaml(tmp_path: Path, name: str, **settings: str) -> Path:
    password_file = tmp_path / f"{name}.password"
    password_file.write_text(secrets.token_urlsafe(24) + "\n")
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump({"mqtt_password_file": str(password_file), **settings}))
    return config


def _broker_users(config: Path, passwd: Path, acl: Path) -> int:
    return mehr_main(["hub", "broker-users", "--config", str(config), "--passwd-file", str(passwd),
                      "--acl-file", str(acl), "--broker-user", getpass.getuser()])  # fmt: skip


def _passwords(passwd: Path) -> dict[str, str]:
    return dict(line.split(":", 1) for line in passwd.read_text().splitlines())


def _acl_blocks(acl: Path) -> dict[str, list[str]]:
    blocks = [block.splitlines() for block in acl.read_text().split("\n\n") if block.strip()]
    return {lines[0].removeprefix("user "): lines[1:] for lines in blocks}


def _is_password(entry: str, password: str) -> bool:
    """Check a Mosquitto $7$ (PBKDF2-SHA512) entry as the broker does."""
    _, kind, rounds, salt, digest = entry.split("$")
    assert kind == "7"
    mine = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt), int(rounds))
    return mine == base64.b64decode(digest)


def test_broker_users_gives_the_lane_the_hubs_password_and_acl_and_keeps_the_kits(
    tmp_path: Path,
) -> None:
    config = _hub_yaml(tmp_path, "hub", mqtt_username="mehr-hub",
                       mqtt_urgent_username="mehr-hub-urgent")  # fmt: skip
    password = (tmp_path / "hub.password").read_text().strip()
    kit = BrokerUser("kit-1", "kit-one-password", kit_acl_rules("home-1", "kit-1"))
    passwd, acl = tmp_path / "mehr.passwd", tmp_path / "mehr.acl"
    passwd.write_text(password_line(kit.username, kit.password) + "\n")
    acl.write_text(acl_text([kit]))

    assert _broker_users(config, passwd, acl) == 0
    assert _broker_users(config, passwd, acl) == 0  # again (a new password, a re-install)

    entries = _passwords(passwd)
    assert sorted(entries) == ["kit-1", "mehr-hub", "mehr-hub-urgent"]  # one line each
    assert _is_password(entries["mehr-hub"], password)
    assert _is_password(entries["mehr-hub-urgent"], password)
    assert _is_password(entries["kit-1"], "kit-one-password")
    blocks = _acl_blocks(acl)
    assert blocks["mehr-hub"] == blocks["mehr-hub-urgent"] == list(hub_acl_rules())
    assert blocks["kit-1"] == list(kit.rules)


def test_broker_users_of_several_hubs_name_each_lane_after_its_hub(tmp_path: Path) -> None:
    passwd, acl = tmp_path / "mehr.passwd", tmp_path / "mehr.acl"
    for hub_id in ("a", "b"):
        config = _hub_yaml(tmp_path, f"hub-{hub_id}", hub_id=hub_id,
                           mqtt_username=f"mehr-hub-{hub_id}",
                           mqtt_urgent_username=f"mehr-hub-{hub_id}-urgent")  # fmt: skip
        assert _broker_users(config, passwd, acl) == 0
    assert sorted(_passwords(passwd)) == [
        "mehr-hub-a", "mehr-hub-a-urgent", "mehr-hub-b", "mehr-hub-b-urgent",
    ]  # fmt: skip
    assert len(_acl_blocks(acl)) == 4


def test_broker_users_without_a_lane_in_hub_yaml_writes_the_hub_alone_and_recommends_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _hub_yaml(tmp_path, "hub", mqtt_username="mehr-hub")
    passwd, acl = tmp_path / "mehr.passwd", tmp_path / "mehr.acl"
    assert _broker_users(config, passwd, acl) == 0
    assert sorted(_passwords(passwd)) == ["mehr-hub"]
    assert "mqtt_urgent_username: mehr-hub-urgent" in capsys.readouterr().out


def test_broker_users_refuses_a_hub_yaml_without_a_broker_user_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _hub_yaml(tmp_path, "hub")
    passwd, acl = tmp_path / "mehr.passwd", tmp_path / "mehr.acl"
    assert _broker_users(config, passwd, acl) == 1
    assert f"{config}: mqtt_username" in capsys.readouterr().err
    assert not passwd.exists() and not acl.exists()


def test_kit_acls_adds_the_missing_kit_rules_and_changes_no_other_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_rules = [r for r in kit_acl_rules("home-1", "kit-1") if not r.endswith("/urgent")]
    current_kit = BrokerUser("kit-2", "p", kit_acl_rules("home-2", "kit-2"))
    hub = BrokerUser("mehr-hub", "p", hub_acl_rules())
    # The layouts operators make: a kit's section with a line of their own, the hub's users
    # appended with `tee -a` straight after the last kit (no blank line), another user.
    text = (
        "\n".join(["user kit-1", *old_rules, "# installed 2026-10-01"]) + "\n\n"
        + acl_text([current_kit]) + acl_text([hub]).rstrip("\n") + "\n"
        + "user watcher\ntopic read mehr/v1/#\n"
    )  # fmt: skip
    acl = tmp_path / "mehr.acl"
    acl.write_text(text)
    argv = ["hub", "kit-acls", "--acl-file", str(acl), "--broker-user", getpass.getuser()]

    assert mehr_main(argv) == 0
    assert "the ACL sections of 1 kits" in capsys.readouterr().out
    after = acl.read_text()
    urgent = "topic write mehr/v1/homes/home-1/kits/kit-1/urgent"
    assert after.replace(urgent + "\n", "", 1) == text  # one line added, nothing else touched
    kit_section = after.split("user kit-2")[0]
    assert urgent in kit_section and set(kit_acl_rules("home-1", "kit-1")) <= set(
        kit_section.splitlines()
    )

    assert mehr_main(argv) == 0  # nothing missing any more: the file is left as it is
    assert "the ACL sections of 0 kits" in capsys.readouterr().out
    assert acl.read_text() == after

    crlf = tmp_path / "crlf.acl"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    before = crlf.read_bytes()
    assert mehr_main(["hub", "kit-acls", "--acl-file", str(crlf)]) == 1
    assert "line endings" in capsys.readouterr().err
    assert crlf.read_bytes() == before


def test_acl_sections_are_found_as_mosquitto_finds_them() -> None:
    old_a = [r for r in kit_acl_rules("home-a", "kit-a") if not r.endswith("/urgent")]
    old_b = [r for r in kit_acl_rules("home-b", "kit-b") if not r.endswith("/urgent")]
    # The hub's users appended with `tee -a` right after kit-a; kit-b's `user` line indented;
    # a `pattern` rule (everyone's) and a comment inside kit-b's stretch of the file.
    text = "\n".join([
        "user kit-a", *old_a,
        "user mehr-hub", *hub_acl_rules(),
        "# kit-b, installed 2026-10-01",
        "  user kit-b", *old_b[:2], "pattern read $SYS/broker/uptime", *old_b[2:],
        "",
    ])  # fmt: skip

    # Re-provisioning kit-a replaces kit-a's rules and nothing of the hub's.
    fresh_a = acl_text([BrokerUser("kit-a", "p", kit_acl_rules("home-a", "kit-a"))])
    after = with_acl_block(text, "kit-a", fresh_a)
    assert after.replace(fresh_a, "\n".join(["user kit-a", *old_a]) + "\n", 1) == text
    assert "\n".join(["user mehr-hub", *hub_acl_rules()]) in after

    # kit-acls gives each kit its own line, inside its own section.
    refreshed, changed = with_kit_blocks_refreshed(text)
    assert sorted(changed) == ["kit-a", "kit-b"]
    lines = refreshed.splitlines()
    urgent_a = lines.index("topic write mehr/v1/homes/home-a/kits/kit-a/urgent")
    urgent_b = lines.index("topic write mehr/v1/homes/home-b/kits/kit-b/urgent")
    assert urgent_a < lines.index("user mehr-hub") < lines.index("  user kit-b") < urgent_b
    assert [line for line in lines if not line.endswith("/urgent")] == text.splitlines()
