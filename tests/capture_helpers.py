"""Recording real loopback traffic into pcap / pcapng files, for the capture tests."""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import struct
import threading
import time
from pathlib import Path
from types import TracebackType

import pytest

PACKET_OUTGOING = 4
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
# Classic BPF for "ip and udp port 54321" on lo's Ethernet-style frames: the kernel keeps only
# miIO datagrams, so other traffic on a shared loopback (a flood from another test run) can
# neither fill the socket's buffer nor push the capture's own packets out of it.
_MIIO_ONLY = [
    (0x28, 0, 0, 12), (0x15, 0, 10, 0x0800),  # ethertype IPv4, else drop
    (0x30, 0, 0, 23), (0x15, 0, 8, 17),  # protocol UDP, else drop
    (0x28, 0, 0, 20), (0x45, 6, 0, 0x1FFF),  # a fragment: drop
    (0xB1, 0, 0, 14),  # x = the IP header's length
    (0x48, 0, 0, 14), (0x15, 2, 0, 54321),  # source port 54321: keep
    (0x48, 0, 0, 16), (0x15, 0, 1, 54321),  # destination port 54321: keep, else drop
    (0x06, 0, 0, 262144), (0x06, 0, 0, 0),
]


def _only_miio(sock: socket.socket) -> ctypes.Array[ctypes.c_char]:
    program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in _MIIO_ONLY))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                    struct.pack("HL", len(_MIIO_ONLY), ctypes.addressof(program)))
    return program


class LoopbackSniffer:
    """Capture frames on ``lo`` with an AF_PACKET socket (root only) while the block runs."""

    def __init__(self, host: str | None = None) -> None:
        """``host``: keep only IPv4 frames to or from it (other test runs share loopback)."""
        self._host = socket.inet_aton(host) if host is not None else None
        if not hasattr(socket, "AF_PACKET") or os.geteuid() != 0:
            pytest.skip("capturing on loopback needs Linux and root")
        self.frames: list[tuple[float, bytes]] = []
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
        self._filter = _only_miio(self._sock)
        # Another run's push flood is miIO too (60 KB datagrams from port 54321): a default
        # receive buffer (about 200 KB) holds three of them, and this test's own frames are
        # lost. Root may force a larger one.
        with contextlib.suppress(OSError):
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 * 1024 * 1024)
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
            if address[2] != PACKET_OUTGOING and self._wanted(frame):  # lo shows each twice
                self.frames.append((time.time(), frame))

    def _wanted(self, frame: bytes) -> bool:
        host = self._host
        return host is None or (frame[12:14] == b"\x08\x00" and host in (frame[26:30],
                                                                         frame[30:34]))

    def write(self, path: Path, pcapng: bool = False) -> Path:
        import dpkt

        with path.open("wb") as handle:
            writer = (dpkt.pcapng.Writer(handle, linktype=1) if pcapng
                      else dpkt.pcap.Writer(handle, linktype=1))
            for timestamp, frame in self.frames:
                writer.writepkt(frame, ts=timestamp)
        return path
