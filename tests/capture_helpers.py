"""Recording real loopback traffic into pcap / pcapng files, for the capture tests."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType

import pytest

PACKET_OUTGOING = 4


class LoopbackSniffer:
    """Capture frames on ``lo`` with an AF_PACKET socket (root only) while the block runs."""

    def __init__(self) -> None:
        if not hasattr(socket, "AF_PACKET") or os.geteuid() != 0:
            pytest.skip("capturing on loopback needs Linux and root")
        self.frames: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LoopbackSniffer:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        time.sleep(0.1)
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, address = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if address[2] != PACKET_OUTGOING:  # loopback shows each frame twice
                self.frames.append((time.time(), frame))

    def write(self, path: Path, pcapng: bool = False) -> Path:
        import dpkt

        with path.open("wb") as handle:
            writer = (dpkt.pcapng.Writer(handle, linktype=1) if pcapng
                      else dpkt.pcap.Writer(handle, linktype=1))
            for timestamp, frame in self.frames:
                writer.writepkt(frame, ts=timestamp)
        return path
