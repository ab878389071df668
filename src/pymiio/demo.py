"""``make demo``: simulated devices on loopback, then both command lines against them.

Everything stays on 127.0.0.0/8; the simulator is stopped at the end whatever happens.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import subprocess
import sys
import tempfile

TOKEN = "2b00042f7481c7b056c4b410d28f33cf"


def _run(*argv: str) -> None:
    shown = " ".join(shlex.quote(a) for a in argv)
    print(f"\n$ {shown}", flush=True)
    subprocess.run([sys.executable, "-c", _ENTRY, *argv], check=False)


# Run the installed entry points through this interpreter (works without activating .venv).
_ENTRY = ("import sys; from pymiio.cli import main, classic;"
          "name, *args = sys.argv[1:];"
          "sys.exit((main.main if name == 'miio' else classic.main)(args))")


def main() -> int:
    """The demo's inventory (it holds a token) lives in a temporary folder removed at the end;
    its devices get a random 127.X.77.0/24 block so two demos on one machine do not collide."""
    with tempfile.TemporaryDirectory(prefix="pymiio-demo-") as env_dir:
        os.environ["PYMIIO_CONFIG_DIR"] = os.path.join(env_dir, "config")
        os.environ["PYMIIO_CACHE_DIR"] = os.path.join(env_dir, "cache")
        block = os.environ.get("PYMIIO_DEMO_NET") or f"127.{random.randint(16, 249)}"
        return _demo(f"{block}.77.1")


def _demo(host: str) -> int:
    simulator = subprocess.Popen(
        [sys.executable, "-m", "pymiio.cli.main", "simulate", "--host", host, "--count", "3",
         "--token", TOKEN, "--json", "--duration", "120"], stdout=subprocess.PIPE, text=True)
    try:
        assert simulator.stdout is not None
        ready = json.loads(simulator.stdout.readline())
        hosts = [d["host"] for d in ready["devices"]]
        print(f"simulated devices ready on {', '.join(hosts)} (token {TOKEN})")
        _run("miio", "discover", "--bind", "127.0.0.1", "--timeout", "1")
        _run("miio", "info", hosts[0], "--token", TOKEN)
        _run("miio", "devices", "add", "kitchen-plug", "--host", hosts[1], "--token", TOKEN)
        _run("miio", "send", "kitchen-plug", "get_prop", '["power","temperature"]')
        _run("miio", "send", "kitchen-plug", "set_power", '["off"]')
        _run("miio", "send", "kitchen-plug", "get_prop", '["power"]', "--json")
        packet = _capture_one(hosts[2])
        _run("miio", "decode", packet, "--token", TOKEN)
        _run("miio-cli", "--discover", "all", "--bindip", "127.0.0.1", "--timeout", "1")
        _run("miio-cli", "--discover", hosts[0])
        _run("miio-cli", "--ip", hosts[0], "--info", "--token", TOKEN)
        _run("miio-cli", "--ip", hosts[2], "--token", TOKEN, "--sendcmd",
             '{"method":"toggle",,"params":[],"id":1}')
        _run("miio-cli", "--token", TOKEN, "--decode", packet)
        _bridge_section(hosts)
    finally:
        simulator.terminate()
        simulator.wait(10)
    print("\ndemo finished; the simulator is stopped")
    return 0


def _bridge_section(hosts: list[str]) -> None:
    """Mosquitto on a loopback port, the bridge, a few topics, one command over MQTT."""
    import shutil

    broker = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                           if os.path.exists("/usr/sbin/mosquitto") else None)
    if broker is None:
        print("\n(bridge section skipped: mosquitto is not installed)")
        return
    import asyncio
    import socket
    import time

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    folder = tempfile.mkdtemp(prefix="pymiio-demo-broker-")
    os.chmod(folder, 0o755)
    config = os.path.join(folder, "mosquitto.conf")
    with open(config, "w") as handle:
        handle.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    mosquitto = subprocess.Popen([broker, "-c", config], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    print(f"\n$ miio bridge --broker mqtt://127.0.0.1:{port} --interval 2   (Mosquitto on "
          "loopback)", flush=True)
    bridge = subprocess.Popen([sys.executable, "-c", _ENTRY, "miio", "bridge", "--broker",
                               f"mqtt://127.0.0.1:{port}", "--interval", "2"])
    try:
        time.sleep(0.5)
        asyncio.run(_mqtt_tour(port))
    finally:
        bridge.terminate()
        bridge.wait(15)
        mosquitto.terminate()
        mosquitto.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


async def _mqtt_tour(port: int) -> None:
    import asyncio

    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe("pymiio/#")
        shown: dict[str, str] = {}
        sent = False
        try:
            async with asyncio.timeout(15):
                async for message in client.messages:
                    topic, text = str(message.topic), bytes(message.payload or b"").decode()
                    if topic not in shown:
                        shown[topic] = text
                        print(f"  {topic}  {text[:110]}")
                    if topic == "pymiio/kitchen-plug" and not sent:
                        print('$ mqtt publish pymiio/kitchen-plug/set {"power": "on", '
                              '"transaction": "demo"}')
                        await client.publish("pymiio/kitchen-plug/set",
                                             '{"power": "on", "transaction": "demo"}')
                        sent = True
                    if topic == "pymiio/kitchen-plug/response":
                        print(f"  -> {text}")
                        return
        except TimeoutError:
            print("  (no answer over MQTT within 15 s)")


def _capture_one(host: str) -> str:
    """A real request packet, as a capture would show it, for the decode step."""
    from pymiio.lan.sync import Device
    from pymiio.protocol import build_packet, encode_request
    from pymiio.protocol.token import Token

    with Device(host, TOKEN) as device:
        hello = device.handshake()
    packet = build_packet(Token(TOKEN), hello.device_id, hello.stamp,
                          encode_request(7, "get_prop", ["power"]))
    return packet.hex()


if __name__ == "__main__":
    sys.exit(main())
