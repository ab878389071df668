"""Run the benchmarks and write docs/benchmarks.md (medians of repeated runs, ratios)."""

from __future__ import annotations

import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

from benchmarks.floor import FloorCodec

TOKEN = bytes.fromhex("2b00042f7481c7b056c4b410d28f33cf")
DID, STAMP = 0x04000001, 1234
REQUEST = {"id": 1, "method": "get_prop", "params": ["power", "temperature", "usb_on"]}
REPLY = {"id": 1, "result": [{"did": f"prop-{i}", "siid": 2, "piid": i, "code": 0, "value": i}
                             for i in range(5)]}
REPEATS = 7


def ops_per_second(action: Callable[[], object], seconds: float = 0.3) -> float:
    """Median over REPEATS runs of how many times ``action`` runs per second."""
    rates = []
    for _ in range(REPEATS):
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(50):
                action()
            count += 50
        rates.append(count / elapsed)
    return statistics.median(rates)


def codec_case() -> list[tuple[str, float]]:
    """Case 1: build a request and parse a ~300-byte reply."""
    from miio.protocol import Message

    from pymiio.protocol import Token, build_packet, decode_reply, encode_json, parse_packet

    token = Token(TOKEN)
    reply_packet = build_packet(token, DID, STAMP, encode_json(REPLY))
    floor = FloorCodec(TOKEN)
    request_bytes = json.dumps(REQUEST, separators=(",", ":")).encode()

    def ours() -> None:
        build_packet(token, DID, STAMP, encode_json(REQUEST))
        packet = parse_packet(reply_packet, token)
        decode_reply(packet.payload or b"")

    def floor_codec() -> None:
        floor.build(DID, STAMP, request_bytes)
        floor.parse(reply_packet)

    ts = datetime.datetime.fromtimestamp(STAMP, datetime.UTC).replace(tzinfo=None)

    def theirs() -> None:
        Message.build({"data": {"value": REQUEST}, "header": {"value": {
            "length": 0, "unknown": 0, "device_id": DID.to_bytes(4, "big"), "ts": ts}},
            "checksum": 0}, token=TOKEN)
        Message.parse(reply_packet, token=TOKEN)

    return [("floor", ops_per_second(floor_codec)), ("pymiio", ops_per_second(ours)),
            ("python-miio", ops_per_second(theirs))]


def startup_case() -> list[tuple[str, float]]:
    """Case 6: seconds to print --help (median of REPEATS process starts)."""
    bindir = Path(sys.executable).parent
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "miio --help": [str(bindir / "miio"), "--help"],
                "miio-cli --help": [str(bindir / "miio-cli"), "--help"],
                "python-miio miiocli --help": [str(bindir / "miiocli"), "--help"]}
    out = []
    for name, argv in commands.items():
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=False)
            times.append(time.perf_counter() - start)
        out.append((name, statistics.median(times)))
    return out


def main() -> None:
    codec = codec_case()
    startup = startup_case()
    floor_rate = codec[0][1]
    lines = [
        "# Benchmarks", "",
        f"Run {datetime.date.today()} on {platform.machine()} / Python "
        f"{platform.python_version()}; pymiio {version('pymiio')}, python-miio "
        f"{version('python-miio')}, cryptography {version('cryptography')}. Medians of "
        f"{REPEATS} runs, every case in the same run. `make bench` rewrites this file.", "",
        "Not yet measured (issue 10 is open): round trips, fleet polls, loss, discovery and "
        "simulator capacity.", "",
        "## 1. Codec: build a request and parse a ~300-byte reply", "",
        "| implementation | ops/s | time vs floor |", "|---|---:|---:|",
        *[f"| {name} | {rate:,.0f} | {floor_rate / rate:.2f}x |" for name, rate in codec], "",
        "## 6. Start-up", "",
        "| command | seconds | vs `python -c pass` |", "|---|---:|---:|",
        *[f"| {name} | {sec:.3f} | {sec / startup[0][1]:.1f}x |" for name, sec in startup], "",
    ]
    path = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
    path.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
