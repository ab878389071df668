"""The floor for the simulator's throughput: the least a Python miIO device loop can do.

One UDP socket per device, one selector over all of them, and per datagram: a hello reply, or
checksum check, decrypt, ``json.loads``, a fixed ``get_prop`` answer, encrypt and send
(struct + hashlib + cryptography, the same codec as ``benchmarks/floor.py``). No faults, no
statistics, no device model. It prints the simulator's ``--json`` ready line.

    python -m benchmarks.device_floor FIRST_HOST COUNT
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import time

from benchmarks.common import TOKEN
from benchmarks.floor import HEAD, FloorCodec, _dumps
from pymiio.simulator.server import device_addresses, device_id_for


def serve(hosts: list[str], seconds: float) -> None:
    codec = FloorCodec(TOKEN)
    selector = selectors.DefaultSelector()
    start = time.monotonic()
    for host in hosts:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((host, 54321))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, device_id_for(host))
    print(json.dumps({"ready": True, "devices": [{"host": host} for host in hosts]}),
          flush=True)
    while time.monotonic() - start < seconds:
        for key, _ in selector.select(1.0):
            sock, did = key.fileobj, key.data
            assert isinstance(sock, socket.socket)
            try:
                data, client = sock.recvfrom(4096)
            except BlockingIOError:
                continue
            stamp = int(time.monotonic() - start) + 1000
            if len(data) == 32:
                sock.sendto(HEAD.pack(0x2131, 32, 0, did, stamp) + b"\xff" * 16, client)
                continue
            request = codec.parse(data)
            assert isinstance(request, dict)
            reply = _dumps({"id": request["id"], "result": ["on"]}).encode()
            sock.sendto(codec.build(did, stamp, reply), client)


if __name__ == "__main__":
    serve(device_addresses(sys.argv[1], int(sys.argv[2])), 1800)
