"""Cases without a network: the codec's speed and the command lines' start-up time."""

from __future__ import annotations

import datetime
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import REPEATS, TOKEN, Row
from benchmarks.floor import FloorCodec

DID, STAMP = 0x04000001, 1234
REQUEST = {"id": 1, "method": "get_prop", "params": ["power", "temperature", "usb_on"]}
REPLY = {"id": 1, "result": [{"did": f"prop-{i}", "siid": 2, "piid": i, "code": 0, "value": i}
                             for i in range(5)]}


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


def codec_case() -> list[Row]:
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

    return [Row(name, 1 / ops_per_second(action)) for name, action in (
        ("floor (struct + hashlib + cryptography)", floor_codec), ("pymiio", ours),
        ("python-miio", theirs))]


def startup_case() -> list[Row]:
    """Case 6: seconds to print --help (median of REPEATS process starts)."""
    bindir = Path(sys.executable).parent
    commands = {"python -c pass": [sys.executable, "-c", "pass"],
                "miio --help": [str(bindir / "miio"), "--help"],
                "miio-cli --help": [str(bindir / "miio-cli"), "--help"],
                "python-miio miiocli --help": [str(bindir / "miiocli"), "--help"]}
    out: list[Row] = []
    for name, argv in commands.items():
        times = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            subprocess.run(argv, capture_output=True, check=False)
            times.append(time.perf_counter() - start)
        out.append(Row(name, statistics.median(times)))
    return out


