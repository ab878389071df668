"""``make demo``: simulated devices on loopback, then both command lines against them.

Three plugs for discovery and the raw commands; a MIoT air purifier (the simulator's
``airpurifier``, driven by the spec it ships), a vacuum and a lamp read and set by name;
then the MQTT bridge with its dashboard on loopback, one Home Assistant discovery payload and
one command over MQTT. Everything stays on 127.0.0.0/8, every wait is bounded, and the
simulator, the broker and the bridge are stopped at the end whatever happens.
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
        return _demo(f"{block}.77.1", env_dir)


# The demo's devices: three plugs, then the purifier, the vacuum and the lamp.
FLEET = (("plug", 3), ("airpurifier", 1), ("vacuum", 1), ("philips-bulb", 1))


def _fleet_config(first: str, folder: str) -> str:
    prefix, last = first.rsplit(".", 1)
    lines, number = [], int(last)
    for profile, count in FLEET:
        lines.append(f'[[device]]\nhost = "{prefix}.{number}"\ncount = {count}\n'
                     f'profile = "{profile}"\ntoken = "{TOKEN}"\n')
        number += count
    path = os.path.join(folder, "demo-devices.toml")
    with open(path, "w") as handle:
        handle.write("\n".join(lines))
    return path


def _demo(host: str, folder: str) -> int:
    config = _fleet_config(host, folder)
    simulator = subprocess.Popen(
        [sys.executable, "-m", "pymiio.cli.main", "simulate", "--config", config, "--json",
         "--duration", "150"], stdout=subprocess.PIPE, text=True)
    try:
        assert simulator.stdout is not None
        ready = json.loads(simulator.stdout.readline())
        hosts = [d["host"] for d in ready["devices"]]
        print(f"simulated devices ready (token {TOKEN}):")
        for device in ready["devices"]:
            print(f"  {device['host']}  {device['model']}")
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
        _named_section(hosts[3:6])
        _bridge_section()
    finally:
        simulator.terminate()
        simulator.wait(10)
    print("\ndemo finished; the simulator is stopped")
    return 0


def _named_section(hosts: list[str]) -> None:
    """Devices by name: a MIoT purifier (its spec), a classic vacuum and a lamp."""
    purifier, vacuum, lamp = hosts
    print("\n# named devices: properties by name, checked against the spec or the catalogue")
    _run("miio", "devices", "add", "purifier", "--host", purifier, "--token", TOKEN)
    _run("miio", "status", "purifier")
    _run("miio", "set", "purifier", "mode", "favorite")
    _run("miio", "get", "purifier", "mode", "temperature")
    _run("miio", "set", "purifier", "favorite-level", "99")  # refused before it is sent
    _run("miio", "devices", "add", "vacuum", "--host", vacuum, "--token", TOKEN)
    _run("miio", "status", "vacuum")
    _run("miio", "action", "vacuum", "start")
    _run("miio", "get", "vacuum", "state")
    _run("miio", "devices", "add", "lamp", "--host", lamp, "--token", TOKEN)
    _run("miio", "set", "lamp", "brightness", "55")
    _run("miio", "get", "lamp", "power", "brightness")


def _bridge_section() -> None:
    """Mosquitto on a loopback port, the bridge with its dashboard, a few topics, one
    discovery payload, one command over MQTT."""
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
    print(f"\n$ miio bridge --broker mqtt://127.0.0.1:{port} --interval 2 --web 127.0.0.1:0"
          "   (Mosquitto on loopback; the dashboard on a free loopback port)", flush=True)
    bridge = subprocess.Popen([sys.executable, "-c", _ENTRY, "miio", "bridge", "--broker",
                               f"mqtt://127.0.0.1:{port}", "--interval", "2", "--web",
                               "127.0.0.1:0"], stderr=subprocess.PIPE, text=True)
    try:
        url = _dashboard_url(bridge, time.monotonic() + 20)
        if url:
            print(f"\ndashboard: {url}  (open it in a browser while the demo runs; "
                  "docs/dashboard.md)")
            _show_dashboard(url)
        asyncio.run(_mqtt_tour(port))
    finally:
        bridge.terminate()
        bridge.wait(15)
        mosquitto.terminate()
        mosquitto.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _dashboard_url(bridge: subprocess.Popen[str], deadline: float) -> str | None:
    """The dashboard's address from the bridge's log (echoed as it comes, in a thread)."""
    import threading
    import time

    found: list[str] = []
    ready = threading.Event()

    def echo() -> None:
        assert bridge.stderr is not None
        for line in bridge.stderr:
            sys.stdout.write(f"  {line}")
            if "dashboard on " in line and not found:
                found.append(line.split("dashboard on ", 1)[1].strip())
                ready.set()

    threading.Thread(target=echo, daemon=True).start()
    ready.wait(max(0.0, deadline - time.monotonic()))
    return found[0] if found else None


def _show_dashboard(url: str) -> None:
    """What the dashboard's API says, once the devices have answered (at most 10 s)."""
    import time
    import urllib.request

    deadline = time.monotonic() + 10
    rows: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        with urllib.request.urlopen(url + "api/devices", timeout=5) as answer:  # loopback
            rows = json.loads(answer.read())
        if rows and all(row["online"] for row in rows):
            break
        time.sleep(0.5)
    print(f"$ curl {url}api/devices")
    for row in rows:
        print(f"  {row['name']:<14} {row['model'] or '?':<24} {row['address']:<15} "
              f"{'online' if row['online'] else 'offline'}  {row['mode']}")


async def _mqtt_tour(port: int) -> None:
    import asyncio

    import aiomqtt

    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe("pymiio/#")
        await client.subscribe("homeassistant/device/+/config")
        shown: dict[str, str] = {}
        sent = discovery = False
        try:
            async with asyncio.timeout(15):
                async for message in client.messages:
                    topic, text = str(message.topic), bytes(message.payload or b"").decode()
                    if topic.startswith("homeassistant/"):
                        if not discovery and '"name": "purifier"' in text:
                            discovery = True
                            print(f"\n  one Home Assistant discovery payload ({topic}):")
                            for line in json.dumps(json.loads(text), indent=2,
                                                   ensure_ascii=False).splitlines():
                                print(f"    {line}")
                            print()
                        continue
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
                        if discovery:
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
