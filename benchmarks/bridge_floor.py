"""The floor for the bridge benchmark: the same polls of the same devices with the floor codec
on one UDP socket, and a bare MQTT publish per changed state; a `/set/power` is one request and
one response publish. Polls follow the bridge's schedule: the first round as the devices
answer their hellos, later rounds spread over the interval on a 0.1 s grid. No checks, no
discovery, no availability: the least a bridge can do.

    python -m benchmarks.bridge_floor PORT HOSTS_JSON INTERVAL
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import sys

import aiomqtt

from benchmarks.common import TOKEN
from benchmarks.floor import HEAD, HELLO, FloorCodec, _dumps

PROPS = ["power", "temperature", "wifi_led"]


async def main(port: int, hosts: dict[str, str], interval: float) -> None:
    codec = FloorCodec(TOKEN)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", socket.SO_RCVBUF),
                    4 * 1024 * 1024)  # a thousand hello replies arrive at once
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    by_ip = {ip: name for name, ip in hosts.items()}
    sessions: dict[str, tuple[int, int]] = {}
    pending: dict[int, tuple[str, str]] = {}
    last: dict[str, bytes] = {}
    counter = [0]
    outbox: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    def request(name: str, method: str, params: list[object], kind: str) -> None:
        ip = hosts[name]
        if ip not in sessions:  # its hello reply was lost: ask again, poll next round
            sock.sendto(HELLO, (ip, 54321))
            return
        counter[0] = counter[0] % 9000 + 1
        did, stamp = sessions[ip]
        pending[counter[0]] = (kind, name)
        payload = _dumps({"id": counter[0], "method": method, "params": params}).encode()
        sock.sendto(codec.build(did, stamp, payload), (ip, 54321))

    def readable() -> None:
        while True:
            try:
                data, (ip, _) = sock.recvfrom(4096)
            except BlockingIOError:
                return
            if len(data) == 32:
                _, _, _, did, stamp = HEAD.unpack_from(data)
                first = ip not in sessions
                sessions[ip] = (did, stamp)
                if first and ip in by_ip:  # the first round as fast as the devices answer
                    request(by_ip[ip], "get_prop", PROPS, "poll")
                continue
            reply = codec.parse(data)
            kind, name = pending.pop(reply["id"], ("", ""))  # type: ignore[index]
            if kind == "poll":
                state = json.dumps(dict(zip(PROPS, reply["result"], strict=False))).encode()  # type: ignore[index]
                if last.get(name) != state:
                    last[name] = state
                    outbox.put_nowait((f"floor/{name}", state))
            elif kind == "set":
                outbox.put_nowait((f"floor/{name}/response", b'{"status":"ok"}'))

    loop.add_reader(sock.fileno(), readable)
    for ip in by_ip:
        sock.sendto(HELLO, (ip, 54321))

    def poll(group: list[str], when: float) -> None:
        for name in group:
            request(name, "get_prop", PROPS, "poll")
        loop.call_at(when + interval, poll, group, when + interval)

    # Spread over the interval on a 0.1 s grid, one timer per grid slot: the same schedule
    # as the bridge's, so neither pays a wake-up per device.
    names = list(hosts)
    slots: dict[int, list[str]] = {}
    for index, name in enumerate(names):
        slots.setdefault(int(interval * index / len(names) / 0.1), []).append(name)
    start = loop.time() + interval  # later rounds spread over the interval
    for slot, group in slots.items():
        loop.call_at(start + slot * 0.1, poll, group, start + slot * 0.1)

    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe("floor/+/set/power")

        async def publisher() -> None:
            while True:
                topic, payload = await outbox.get()
                await client.publish(topic, payload, retain=not topic.endswith("/response"))

        task = asyncio.create_task(publisher())
        async for message in client.messages:
            name = str(message.topic).split("/")[1]
            value = bytes(message.payload or b"").decode()
            request(name, "set_power", [value], "set")
        task.cancel()


if __name__ == "__main__":
    random.seed(1)
    with open(sys.argv[2]) as hosts_file:
        hosts = json.loads(hosts_file.read())
    asyncio.run(main(int(sys.argv[1]), hosts,
                     float(sys.argv[3])))
