"""Issue 14, files: hostile backups, databases, captures and inventories end promptly with a
one-line error (exit 6), in bounded time and memory, reading nothing outside the user's files
and printing no token. Every input is built here by a small generator."""

from __future__ import annotations

import json
import os
import plistlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pymiio.errors import BackupError
from pymiio.tokens import extract
from pymiio.tokens.sqlite_memory import bounded_query, open_bytes

from . import hostile
from . import token_fixtures as fx
from .cli_runner import miio
from .conftest import TOKEN

MIIO2 = "apps/com.xiaomi.smarthome/db/miio2.db"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _fts5() -> bool:
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE t USING fts5(a)")
    except sqlite3.OperationalError:
        return False
    return True


@pytest.mark.skipif(not _fts5(), reason="this SQLite has no FTS5")
@pytest.mark.parametrize("rows", [None, 3000])
def test_a_virtual_devicerecord_table_is_never_queried(tmp_path: Path,
                                                       rows: int | None) -> None:  # 14.1
    path = _write(tmp_path / "miio2.db", hostile.virtual_devicerecord(rows))
    done = miio("tokens", "extract", str(path))
    assert done.code == 6 and done.err.count("\n") == 1
    assert "SQLite database without Mi Home tables" in done.err


def test_queries_have_a_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:  # 14.1
    from pymiio.tokens import sqlite_memory

    monkeypatch.setattr(sqlite_memory, "QUERY_BUDGET", 0.2)
    connection = open_bytes(hostile.database(["CREATE TABLE t (a)"]), "test.db")
    endless = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
               "SELECT count(*) FROM c")
    with pytest.raises(BackupError, match="took longer than 0.2 s"):
        bounded_query(connection, endless, (), "test.db")
    connection.close()


def test_rows_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # 14.1
    from pymiio.tokens import sqlite_memory

    monkeypatch.setattr(sqlite_memory, "MAX_ROWS", 50)
    rows = ", ".join(f"('{i:032x}', 'n{i}')" for i in range(1, 60))
    path = _write(tmp_path / "miio2.db", hostile.database([
        "CREATE TABLE devicerecord (token TEXT, name TEXT)",
        f"INSERT INTO devicerecord VALUES {rows}"]))
    with pytest.raises(BackupError, match="more than 50 rows"):
        extract(path)


@pytest.mark.parametrize("digits", [592, 1400])
def test_a_pax_header_of_digits_is_read_in_linear_time(tmp_path: Path, digits: int) -> None:
    """CVE-2024-6232: CPython's tarfile takes 36 s on 592 bytes, ~23 min on 1.4 KB."""  # 14.2
    pax = b"9" * digits
    tar = (hostile.tar_member("././@PaxHeader", pax, b"x")
           + hostile.tar_member(MIIO2, fx.miio2_db()))
    found = extract(_write(tmp_path / "pax.ab", hostile.backup_of(tar)))
    assert {r.token.hex for r in found.records} == {d["token"] for d in fx.DEVICES}


@pytest.mark.parametrize("kind", [b"x", b"L", b"g", b"K"])
def test_extended_tar_headers_are_capped(tmp_path: Path, kind: bytes) -> None:  # 14.3
    tar = (hostile.tar_header("././@LongLink", 612 * 1024, kind) + bytes(612 * 1024)
           + hostile.tar_member(MIIO2, fx.miio2_db()))
    path = _write(tmp_path / "big-header.ab", hostile.backup_of(tar))
    with pytest.raises(BackupError, match="extended tar header of 626688 bytes"):
        extract(path)


# Peak memory of the child itself: VmHWM belongs to the process's own address space, whereas
# ru_maxrss carries the parent's peak across fork and exec.
PEAK = ("int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
        " // 1024")
MEASURE = """
import sys
from pathlib import Path
from pymiio.errors import MiioError
from pymiio.tokens import extract
try:
    extract(Path(sys.argv[1]))
    outcome = "read"
except MiioError as exc:
    outcome = str(exc)
print(""" + PEAK + """, outcome)
"""


@pytest.mark.parametrize(("megabytes", "outcome"), [(60, "SQLite database"),
                                                    (600, "more than the 67108864 allowed")])
def test_peak_memory_stays_bounded_for_large_members(tmp_path: Path, megabytes: int,
                                                     outcome: str) -> None:  # 14.3
    path = hostile.write_compressed_backup(
        tmp_path / "large.ab", hostile.zero_member(MIIO2, megabytes * 1024 * 1024))
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True,
                          text=True, timeout=120)
    peak, message = done.stdout.split(" ", 1)
    assert outcome in message
    assert int(peak) < 256, f"peak {peak} MB"


def _manifest_backup(folder: Path, rows: list[tuple[object, str]]) -> Path:
    folder.mkdir()
    manifest = sqlite3.connect(folder / "Manifest.db")
    manifest.execute("CREATE TABLE Files (fileID, domain TEXT, relativePath TEXT, flags, file)")
    for file_id, relative in rows:
        manifest.execute("INSERT INTO Files VALUES (?, 'AppDomain-com.xiaomi.mihome', ?, 1, '')",
                         (file_id, relative))
    manifest.commit()
    manifest.close()
    return folder


def test_ios_manifest_cannot_point_outside_the_backup(tmp_path: Path) -> None:  # 14.4
    outside = _write(tmp_path / "secret_mihome.sqlite", fx.ios_sqlite())
    good = "Documents/1_mihome.sqlite"
    folder = _manifest_backup(tmp_path / "backup", [
        ("../secret_mihome.sqlite", "Documents/2_mihome.sqlite"),
        (str(outside), "Documents/3_mihome.sqlite"),
        (b"\x00binary", "Documents/4_mihome.sqlite"),
        (12345, "Documents/5_mihome.sqlite"),
        ("/etc/passwd", "Documents/6_mihome.sqlite"),
        (hostile.ios_file_id(good), good)])
    file_id = hostile.ios_file_id(good)
    (folder / file_id[:2]).mkdir()
    _write(folder / file_id[:2] / file_id, fx.ios_sqlite())
    found = extract(folder)
    assert {r.source for r in found.records} == {good}
    assert sum("not 40 hex digits" in note for note in found.notes) == 5


def test_fifos_are_refused_before_they_are_opened(tmp_path: Path,
                                                  private_dirs: Path) -> None:  # 14.5
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = miio("decode", "--pcap", str(fifo))
    assert done.code == 6 and "is a FIFO" in done.err
    done = miio("tokens", "extract", str(fifo))
    assert done.code == 6 and "is a FIFO" in done.err
    config = private_dirs / "config"
    config.mkdir()
    os.mkfifo(config / "devices.json")
    assert miio("devices", "list").code == 6
    packet = "21310020" + "ff" * 28
    decoded = miio("decode", packet, "--json")
    assert decoded.code == 0 and json.loads(decoded.out)["kind"] == "hello"
    assert "FIFO" in decoded.err  # a warning, and decoding goes on


def test_a_cache_scan_is_linear_and_survives_unreadable_files(tmp_path: Path) -> None:  # 14.6
    folder = tmp_path / "cache"
    folder.mkdir()
    lines = "".join(f"token={index:032x}\n" for index in range(1, 30_000))  # ~1.1 MB
    _write(folder / "big", lines.encode())
    _write(folder / "locked", b'{"token":"' + TOKEN.encode() + b'"}')
    (folder / "locked").chmod(0)
    os.mkfifo(folder / "fifo")
    found = extract(folder)
    assert len(found.records) >= 29_999
    if os.geteuid() != 0:  # root reads a mode-0 file anyway
        assert any("skipped" in note and "locked" in note for note in found.notes)


def _pcap(records: list[tuple[int, bytes]], snaplen: int = 65535) -> bytes:
    import struct

    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)]
    for claimed, data in records:
        out.append(struct.pack("<IIII", 1, 0, claimed, claimed) + data)
    return b"".join(out)


def test_pcap_record_lengths_are_checked(tmp_path: Path) -> None:  # 14.7
    frame = bytes(14)
    path = _write(tmp_path / "huge.pcap", _pcap([(len(frame), frame), (0xFFFFFFF0, frame),
                                                 (len(frame), frame)]))
    done = miio("decode", "--pcap", str(path), "--json")
    records = json.loads(done.out)
    assert done.code == 0 and records[-2]["kind"] == "unreadable"
    assert "more than the snap length" in records[-2]["note"]
    cut = _write(tmp_path / "cut.pcap", _pcap([(len(frame), frame), (200, frame)], 262144))
    assert json.loads(miio("decode", "--pcap", str(cut), "--json").out)[-2]["kind"] == \
        "truncated"


LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (400 * 1024 * 1024, 400 * 1024 * 1024))
from pymiio.cli.main import main
sys.exit(main(["decode", "--pcap", sys.argv[1], "--json"]))
"""


def test_a_hostile_pcap_under_a_memory_limit_is_no_traceback(tmp_path: Path) -> None:  # 14.7
    path = _write(tmp_path / "small.pcap", _pcap([(0xFFFFFFF0, bytes(224))], 0xFFFFFFFF))
    assert path.stat().st_size == 264
    done = subprocess.run([sys.executable, "-c", LIMITED, str(path)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert json.loads(done.stdout)[0]["kind"] == "unreadable"


def test_a_large_capture_streams_in_bounded_memory(tmp_path: Path) -> None:  # 14.6
    from .test_capture import _frame

    frame = _frame(bytes.fromhex("21310020" + "ff" * 28))
    path = _write(tmp_path / "hellos.pcap", _pcap([(len(frame), frame)] * 120_000))
    script = ("import sys; from pymiio.cli.main import main; code = main(sys.argv[1:]);"
              f"peak = {PEAK}; sys.stderr.write('peak ' + str(peak)); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", script, "decode", "--pcap", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") >= 120_000
    assert int(done.stderr.rsplit("peak ", 1)[1]) < 120  # MB, not one row per packet


DEEP = "[" * 20_000 + "]" * 20_000


@pytest.mark.parametrize("args", [
    ("send", "127.0.0.1", "get_prop", DEEP, "--token", TOKEN),
    ("miot", "set", "127.0.0.1", "2.1", DEEP, "--token", TOKEN),
    ("send-raw", "127.0.0.1", '{"method":"x","params":' + DEEP + "}", "--token", TOKEN),
])
def test_deeply_nested_json_arguments_are_usage_errors(args: tuple[str, ...]) -> None:  # 14.8
    done = miio(*args)
    assert done.code == 2 and "nested too deeply" in done.err and "Traceback" not in done.err


def test_deeply_nested_files_are_clear_errors(tmp_path: Path, private_dirs: Path) -> None:
    from .cli_runner import miio_cli  # 14.8

    sendcmd = miio_cli("--ip", "127.0.0.1", "--sendcmd", '{"method":"x","params":' + DEEP + "}")
    assert sendcmd.code == 2 and "nested too deeply" in sendcmd.err
    config = private_dirs / "config"
    config.mkdir()
    _write(config / "devices.json", ('{"devices": ' + DEEP + "}").encode())
    listed = miio("devices", "list")
    assert listed.code == 6 and "nested too deeply" in listed.err
    assert miio("decode", "21310020" + "ff" * 28).code == 0  # unrelated commands still work
    (config / "devices.json").unlink()
    xml = b'<map><string name="d">' + DEEP.encode() + b"</string></map>"
    done = miio("tokens", "extract", str(_write(tmp_path / "miot.xml", xml)))
    assert done.code == 6 and "holds no device tokens" in done.err
    folder = fx.ios_backup(tmp_path / "ios")
    _write(folder / "Manifest.plist", hostile.deep_binary_plist(20_000))
    assert len(extract(folder).records) == len(fx.DEVICES)


def test_a_corrupt_inventory_entry_breaks_no_other_command(private_dirs: Path) -> None:  # 14.9
    config = private_dirs / "config"
    config.mkdir()
    stored = {"devices": {"number": {"host": 12345, "token": TOKEN},
                          "badtoken": {"host": "127.0.0.9", "token": "xyz"},
                          "good": {"host": "127.0.0.8", "token": TOKEN}}}
    _write(config / "devices.json", json.dumps(stored).encode())
    (config / "devices.json").chmod(0o600)
    decoded = miio("decode", "21310020" + "ff" * 28)
    assert decoded.code == 0 and decoded.err.count("warning: ") == 2
    listed = miio("devices", "list", "--json")
    assert [entry["name"] for entry in listed.json()] == ["good"]
    assert miio("devices", "add", "other", "--host", "127.0.0.7", "--no-check").code == 0
    kept = json.loads((config / "devices.json").read_text())["devices"]
    assert kept["number"] == stored["devices"]["number"]  # written back, not dropped
    assert kept["badtoken"] == stored["devices"]["badtoken"]


def test_inventory_permissions_and_symlinks_are_respected(private_dirs: Path,
                                                          tmp_path: Path) -> None:
    config = private_dirs / "config"
    config.mkdir()
    real = _write(tmp_path / "real.json", b'{"devices": {}}')
    real.chmod(0o644)
    (config / "devices.json").symlink_to(real)
    done = miio("devices", "add", "x", "--host", "127.0.0.7", "--no-check")
    assert done.code == 0 and "readable by other users" in done.err
    assert (config / "devices.json").is_symlink()
    assert "x" in json.loads(real.read_text())["devices"]


def test_unreadable_inputs_exit_6(tmp_path: Path) -> None:
    assert miio("decode", "--pcap", str(tmp_path / "missing.pcap")).code == 6
    assert miio("tokens", "extract", str(tmp_path / "missing.ab")).code == 6


def test_binary_plist_generator_is_deep() -> None:
    with pytest.raises(RecursionError):
        plistlib.loads(hostile.deep_binary_plist(20_000))


def test_an_inventory_saved_with_a_byte_order_mark_is_read(private_dirs: Path) -> None:
    """Edited in an editor that adds a UTF-8 byte-order mark: read as it is, not refused as
    'not valid JSON'."""
    config = private_dirs / "config"
    config.mkdir()
    stored = {"devices": {"good": {"host": "127.0.0.8", "token": TOKEN}}}
    _write(config / "devices.json", b"\xef\xbb\xbf" + json.dumps(stored).encode())
    (config / "devices.json").chmod(0o600)
    listed = miio("devices", "list", "--json")
    assert [entry["name"] for entry in listed.json()] == ["good"]
