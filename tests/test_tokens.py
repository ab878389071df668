"""Token recovery from every kind of source, with fixtures the tests build themselves."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pymiio import BackupError, WrongPasswordError
from pymiio.tokens import detect, extract
from pymiio.tokens.android_backup import read_android_backup
from pymiio.tokens.ios_backup import decrypt_ztoken

from . import token_fixtures as fx

EXPECTED = {(int(d["did"]), d["token"]) for d in fx.DEVICES}


def _pairs(path: Path, password: str | None = None) -> set[tuple[int | None, str]]:
    return {(r.device_id, r.token.hex) for r in extract(path, password).unique()}


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_miio2_db_with_all_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, "whatever.bin", fx.miio2_db())
    assert detect(path) == "mihome-db"
    records = extract(path).unique()
    first = records[0]
    assert (first.name, first.model, first.ip, first.mac) == (
        "Kitchen plug", "chuangmi.plug.m1", "192.0.2.10", "78:11:DC:00:00:01")
    assert {(r.device_id, r.token.hex) for r in records} == EXPECTED


def test_miio2_db_without_tokens_says_why(tmp_path: Path) -> None:
    path = _write(tmp_path, "miio2.db", fx.miio2_db(with_tokens=False))
    with pytest.raises(BackupError, match="stopped keeping them"):
        extract(path)


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("password", [None, "s3cret-ü"])
def test_android_backups_of_every_version(tmp_path: Path, version: int, compressed: bool,
                                          password: str | None) -> None:
    path = _write(tmp_path, "backup.ab", fx.android_backup(
        version=version, compressed=compressed, password=password))
    assert detect(path) == "android-backup"
    found = extract(path, password)
    sources = {r.source for r in found.records}
    assert sources == {"apps/com.xiaomi.smarthome/db/miio2.db",
                       "apps/com.yeelight.cherry/sp/miot.xml"}
    assert {(r.device_id, r.token.hex) for r in found.unique()} == EXPECTED


def test_version_two_checksum_uses_java_chars(tmp_path: Path) -> None:
    # A master key full of bytes >= 0x80: the Java char conversion must be exact.
    key = bytes(range(0x80, 0xA0))
    path = _write(tmp_path, "b.ab", fx.android_backup(version=2, password="pw", master_key=key))
    assert _pairs(path, "pw") == EXPECTED


# android-backup 0.2.0 cannot write uncompressed backups (its pack() hands a BytesIO on where
# bytes are needed), so those are covered by our own writer above.
@pytest.mark.parametrize(("version", "compressed", "password"), [
    (5, True, "peer-password"), (3, True, "peer-password"), (2, True, None), (1, True, None)])
def test_backups_written_by_android_backup_are_read(tmp_path: Path, version: int,
                                                    compressed: bool,
                                                    password: str | None) -> None:
    path = fx.peer_backup(tmp_path, version=version, compressed=compressed, password=password)
    assert _pairs(path, password) == EXPECTED


def test_wrong_or_missing_password(tmp_path: Path) -> None:
    path = _write(tmp_path, "b.ab", fx.android_backup(password="right"))
    with pytest.raises(WrongPasswordError, match="wrong password"):
        extract(path, "wrong")
    with pytest.raises(WrongPasswordError, match="encrypted: give its password"):
        extract(path)


@pytest.mark.parametrize("password", [None, "pw"])
@pytest.mark.parametrize("cut", [0.5, 0.95])
def test_truncated_backups_are_clear_errors(tmp_path: Path, password: str | None,
                                            cut: float) -> None:
    data = fx.android_backup(password=password)
    path = _write(tmp_path, "cut.ab", data[:int(len(data) * cut)])
    with pytest.raises(BackupError, match="truncated|corrupt"):
        extract(path, password)


@pytest.mark.parametrize("data", [
    b"ANDROID BACKUP\n9\n1\nnone\n",
    b"ANDROID BACKUP\n5\n2\nnone\n",
    b"ANDROID BACKUP\n5\n1\nROT13\n",
    b"ANDROID BACKUP\n5\n1\nAES-256\nzz\n",
    b"ANDROID BACKUP\n5\n1\nAES-256\n00\n00\n999999999\n" + b"00" * 16 + b"\n00\n",
    b"ANDROID BACKUP\n5",
    b"ANDROID BACKUP\n5\n0\nnone\nthis is not a tar archive" + b"\x01" * 600,
    b"ANDROID BACKUP\n5\n1\nnone\n" + b"not zlib at all" * 20,
])
def test_corrupt_headers_and_bodies(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(BackupError):
        extract(_write(tmp_path, "bad.ab", data), "pw")


def test_size_limits_stop_hostile_backups(tmp_path: Path) -> None:
    bomb = fx.android_backup({"apps/x/huge": bytes(50_000_000)})  # inflates 1000x
    assert len(bomb) < 200_000
    path = _write(tmp_path, "bomb.ab", bomb)
    with pytest.raises(BackupError, match="inflates past"):
        read_android_backup(path, max_inflated=10_000_000)
    big = _write(tmp_path, "big.ab", fx.android_backup(
        {"apps/com.xiaomi.smarthome/db/miio2.db": fx.miio2_db() + bytes(100_000)}))
    with pytest.raises(BackupError, match="more than the"):
        read_android_backup(big, max_member=50_000)


def test_backup_without_mihome_data_says_how_to_make_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "other.ab", fx.android_backup({"apps/com.other/f/x": b"x"}))
    with pytest.raises(BackupError, match="adb backup -noapk com.xiaomi.smarthome"):
        extract(path)


def test_ios_backup_folder_and_bare_sqlite(tmp_path: Path) -> None:
    folder = fx.ios_backup(tmp_path / "backup")
    assert detect(folder) == "ios-backup"
    assert _pairs(folder) == EXPECTED
    sqlite_path = _write(tmp_path, "1234567_mihome.sqlite", fx.ios_sqlite())
    assert detect(sqlite_path) == "ios-sqlite"
    assert _pairs(sqlite_path) == EXPECTED
    assert decrypt_ztoken(fx.encrypt_ztoken(fx.DEVICES[0]["token"])) == fx.DEVICES[0]["token"]


def test_encrypted_ios_backup_says_how_to_make_an_unencrypted_one(tmp_path: Path) -> None:
    folder = fx.ios_backup(tmp_path / "enc", encrypted=True)
    with pytest.raises(BackupError, match="untick 'Encrypt local backup'"):
        extract(folder)
    empty = fx.ios_backup(tmp_path / "noapp", with_app=False)
    with pytest.raises(BackupError, match="holds no Mi Home data"):
        extract(empty)


def test_yeelight_xml_alone(tmp_path: Path) -> None:
    path = _write(tmp_path, "prefs", fx.yeelight_xml())
    assert detect(path) == "yeelight-xml"
    record = extract(path).unique()[0]
    assert (record.ip, record.model, record.name) == ("192.0.2.10", "chuangmi.plug.m1",
                                                      "Kitchen plug")
    with pytest.raises(BackupError, match="not valid XML"):
        extract(_write(tmp_path, "bad.xml", b"<?xml version='1.0'?><map><string>"))


def test_cache_folder_scan(tmp_path: Path) -> None:
    folder = fx.cache_folder(tmp_path / "cache")
    assert detect(folder) == "cache"
    records = extract(folder).unique()
    assert {(r.device_id, r.token.hex) for r in records} == EXPECTED
    assert {r.ip for r in records} == {"192.0.2.10", "192.0.2.11"}
    (tmp_path / "empty").mkdir()
    with pytest.raises(BackupError, match="no tokens"):
        extract(tmp_path / "empty")


def test_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="unknown kind of file"):
        extract(_write(tmp_path, "x.txt", b"hello"))
    import sqlite3

    con = sqlite3.connect(tmp_path / "other.db")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(BackupError, match="without Mi Home tables"):
        extract(tmp_path / "other.db")
    with pytest.raises(BackupError, match="corrupt SQLite"):
        extract(_write(tmp_path, "broken.db", b"SQLite format 3\x00" + os.urandom(3000)))


def test_inputs_are_never_modified(tmp_path: Path) -> None:
    paths = [_write(tmp_path, "miio2.db", fx.miio2_db()),
             _write(tmp_path, "b.ab", fx.android_backup(password="pw")),
             fx.ios_backup(tmp_path / "ios")]
    before = _snapshot(tmp_path)
    for path in paths:
        extract(path, "pw")
    assert _snapshot(tmp_path) == before  # same files, same bytes, same times


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                       p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _miio(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pymiio.cli.main", *args],
                          capture_output=True, text=True, timeout=60)


def test_cli_extract_json_and_save(tmp_path: Path) -> None:
    path = _write(tmp_path, "backup.ab", fx.android_backup(password="pw"))
    done = _miio("tokens", "extract", str(path), "--password", "pw", "--json", "--save")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {"name", "model", "ip", "mac", "device_id", "token"} <= set(rows[0])
    assert {(r["device_id"], r["token"]) for r in rows} == EXPECTED
    listed = json.loads(_miio("devices", "list", "--json", "--show-tokens").stdout)
    assert {(e["name"], e["host"]) for e in listed} == {("kitchen-plug", "192.0.2.10"),
                                                        ("vacuum", "192.0.2.11")}
    table = _miio("tokens", "extract", str(path), "--password", "pw")
    assert table.returncode == 0 and "Kitchen plug" in table.stdout


def test_cli_errors(tmp_path: Path) -> None:
    path = _write(tmp_path, "backup.ab", fx.android_backup(password="pw"))
    wrong = _miio("tokens", "extract", str(path), "--password", "nope")
    assert wrong.returncode == 6 and wrong.stderr.startswith("error: wrong password")
    empty = _miio("tokens", "extract", str(_write(tmp_path, "m.db", fx.miio2_db(False))))
    assert empty.returncode == 6 and "stopped keeping them" in empty.stderr


def _prompting(path: Path) -> tuple[subprocess.Popen[bytes], int, bytes]:
    """``tokens extract`` on a pseudo-terminal, once it shows the password prompt."""
    import os
    import pty
    import select
    import time

    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "pymiio.cli.main", "tokens", "extract",
                                str(path), "--json"], stdin=terminal, stdout=terminal,
                               stderr=terminal, close_fds=True)
    os.close(terminal)
    seen = b""
    deadline = time.monotonic() + 30
    while b"password" not in seen and time.monotonic() < deadline:
        if select.select([controller], [], [], 0.5)[0]:
            seen += os.read(controller, 1024)
    assert b"backup password" in seen
    return process, controller, seen


def _drain(process: subprocess.Popen[bytes], controller: int, seen: bytes) -> bytes:
    import os
    import select
    import time

    deadline = time.monotonic() + 30
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.5)[0]:
                try:
                    seen += os.read(controller, 65536)
                except OSError:
                    break
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    return seen


def test_cli_asks_for_the_password_on_a_terminal(tmp_path: Path) -> None:
    import os

    path = _write(tmp_path, "backup.ab", fx.android_backup(password="typed-secret"))
    process, controller, seen = _prompting(path)
    os.write(controller, b"typed-secret\n")
    seen = _drain(process, controller, seen)
    assert process.returncode == 0, seen.decode(errors="replace")
    assert b"typed-secret" not in seen.split(b"backup password", 1)[1]  # not echoed
    assert fx.DEVICES[0]["token"].encode() in seen


def test_ctrl_c_at_the_password_prompt_exits_130(tmp_path: Path) -> None:  # 13.23
    import signal

    path = _write(tmp_path, "backup.ab", fx.android_backup(password="typed-secret"))
    process, controller, seen = _prompting(path)
    process.send_signal(signal.SIGINT)
    seen = _drain(process, controller, seen)
    assert process.returncode == 130, seen.decode(errors="replace")
    assert b'"message": "interrupted"' in seen and b"Traceback" not in seen  # --json: JSON
