"""Decoding captures of real pymiio client <-> simulator sessions recorded on loopback."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from pymiio import CaptureError, Device, ProtocolError, Token
from pymiio.capture.decode import decode_capture, decode_packet, parse_hex
from pymiio.protocol import HELLO, build_packet, encode_request
from pymiio.simulator import make_devices

from .addresses import NET
from .capture_helpers import LoopbackSniffer
from .conftest import OTHER_TOKEN, TOKEN
from .helpers import simulator_thread


def _session(tmp_path: Path, host: str, token: str, *, reveal: bool = False,
             pcapng: bool = False) -> Path:
    with simulator_thread(make_devices(host, token=token, unprovisioned=reveal)), \
            LoopbackSniffer(host) as sniffer, Device(host, None if reveal else token) as device:
        device.send("get_prop", ["power"])
        device.send("set_power", ["off"])
    return sniffer.write(tmp_path / f"{host}.{'pcapng' if pcapng else 'pcap'}", pcapng)


def _mine(records: list[dict[str, object]], host: str) -> list[dict[str, object]]:
    return [r for r in records if host in str(r.get("source")) + str(r.get("destination"))]


@pytest.mark.parametrize("pcapng", [False, True])
def test_one_token_decodes_a_whole_session(tmp_path: Path, pcapng: bool) -> None:
    path = _session(tmp_path, f"{NET}.70.1", TOKEN, pcapng=pcapng)
    report = decode_capture(path, [Token(TOKEN)])
    records = _mine(report.records, f"{NET}.70.1")
    assert [r["kind"] for r in records] == ["hello", "hello-reply", "command", "command",
                                            "command", "command"]
    assert [r["direction"] for r in records] == ["to device", "from device"] * 3
    payloads = [r["payload"] for r in records if r["kind"] == "command"]
    assert payloads[0]["method"] == "get_prop" and payloads[1]["result"] == ["on"]  # type: ignore[index]
    assert payloads[2]["params"] == ["off"] and payloads[3]["result"] == ["ok"]  # type: ignore[index]
    times = [r["time"] for r in records]
    assert times == sorted(times)
    [summary] = [d for d in report.devices if d.ip == f"{NET}.70.1"]
    assert (summary.packets, summary.decoded, summary.device_id) == (6, 4, records[1]["device_id"])


def test_several_tokens_and_a_token_learnt_from_a_hello(tmp_path: Path) -> None:
    first = _session(tmp_path, f"{NET}.70.2", TOKEN)
    second = _session(tmp_path, f"{NET}.70.3", OTHER_TOKEN)
    for path, host in ((first, f"{NET}.70.2"), (second, f"{NET}.70.3")):
        report = decode_capture(path, [Token(TOKEN), Token(OTHER_TOKEN)])
        assert all(r["checksum_ok"] for r in _mine(report.records, host)
                   if r["kind"] == "command")
    learnt = _session(tmp_path, f"{NET}.70.4", TOKEN, reveal=True)
    report = decode_capture(learnt)  # no token given: the hello reply reveals it
    records = _mine(report.records, f"{NET}.70.4")
    assert records[1]["revealed_token"] == TOKEN
    assert all(r["payload"] for r in records if r["kind"] == "command")


def test_wrong_token_is_reported_not_fatal(tmp_path: Path) -> None:
    path = _session(tmp_path, f"{NET}.70.5", TOKEN)
    report = decode_capture(path, [Token(OTHER_TOKEN)])
    commands = [r for r in _mine(report.records, f"{NET}.70.5") if r["kind"] == "command"]
    assert commands and all(r["checksum_ok"] is False and r["payload"] is None
                            for r in commands)
    assert [d.decoded for d in report.devices if d.ip == f"{NET}.70.5"] == [0]


def test_cli_decodes_a_capture_as_json(tmp_path: Path) -> None:
    path = _session(tmp_path, f"{NET}.70.6", TOKEN, pcapng=True)
    done = subprocess.run([sys.executable, "-m", "pymiio.cli.main", "decode", "--pcap",
                           str(path), "--token", TOKEN, "--json"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    *packets, summary = json.loads(done.stdout)
    assert summary["kind"] == "summary"
    assert any(d["ip"] == f"{NET}.70.6" and d["token_found"] for d in summary["devices"])
    mine = _mine(packets, f"{NET}.70.6")  # the sniffer also sees others' loopback traffic
    assert {"time", "source", "destination", "direction", "kind", "payload"} <= set(mine[0])
    table = subprocess.run([sys.executable, "-m", "pymiio.cli.main", "decode", "--pcap",
                            str(path), "--token", TOKEN], capture_output=True, text=True,
                           timeout=60)
    assert table.returncode == 0 and "get_prop" in table.stdout


def _frame(payload: bytes, *, sport: int = 40000, dport: int = 54321,
           flags: int = 0, ip_id: int = 1, udp_header: bool = True) -> bytes:
    udp = (struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) if udp_header else b"")
    udp += payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ip_id, flags, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 70, 9]))
    return b"\x00" * 12 + b"\x08\x00" + ip + udp


def test_fragments_truncation_and_non_miio_traffic_are_reported(tmp_path: Path) -> None:
    import dpkt

    path = tmp_path / "odd.pcap"
    good = build_packet(Token(TOKEN), 5, 6, encode_request(1, "x"))
    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle, linktype=1)
        writer.writepkt(_frame(b"hello, not miio"), ts=1.0)
        writer.writepkt(_frame(HELLO, flags=0x2000, ip_id=7), ts=2.0)  # first fragment
        writer.writepkt(_frame(HELLO, flags=4, ip_id=7, udp_header=False), ts=2.5)  # its tail
        # A later fragment of other UDP traffic: its payload merely looks like port 54321.
        writer.writepkt(_frame(b"\x9c\x40\xd4\x31" + b"z" * 8, flags=4, ip_id=8,
                               udp_header=False), ts=2.7)
        writer.writepkt(_frame(good)[:-10], ts=3.0)                  # cut short by snaplen
        writer.writepkt(_frame(good), ts=4.0)
        writer.writepkt(_frame(b"x", sport=1, dport=2), ts=5.0)      # another port: skipped
    kinds = [r["kind"] for r in decode_capture(path, [Token(TOKEN)]).records]
    assert kinds == ["not-miio", "fragment", "fragment", "truncated", "command"]
    whole = path.read_bytes()
    last_record = 16 + len(_frame(b"x", sport=1, dport=2))
    (tmp_path / "cut.pcap").write_bytes(whole[:-last_record - 7])  # cut inside the command
    assert decode_capture(tmp_path / "cut.pcap").records[-1]["kind"] == "truncated"
    (tmp_path / "tail.pcap").write_bytes(whole + b"\x00" * 5)      # a partial record header
    records = decode_capture(tmp_path / "tail.pcap").records
    assert records[-1]["kind"] == "unreadable" and "truncated" in str(records[-1]["note"])
    assert [r["kind"] for r in records[:-1]] == kinds


def test_garbage_files_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "junk.pcap").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(CaptureError, match="not a pcap or pcapng file"):
        decode_capture(tmp_path / "junk.pcap")
    (tmp_path / "empty.pcap").write_bytes(b"")
    with pytest.raises(CaptureError):
        decode_capture(tmp_path / "empty.pcap")
    with pytest.raises(CaptureError, match="cannot read"):
        decode_capture(tmp_path / "missing.pcap")


def test_single_packet_decoding() -> None:
    assert parse_hex("0x21 31:00") == b"\x21\x31\x00"
    with pytest.raises(ProtocolError):
        parse_hex("xyz")
    reply = decode_packet(bytes.fromhex("21310020" + "0" * 8 + "01020304" + "00000010")
                          + bytes.fromhex(TOKEN))
    assert reply["kind"] == "hello-reply" and reply["revealed_token"] == TOKEN
    assert (reply["device_type"], reply["serial"]) == ("0102", "0304")
