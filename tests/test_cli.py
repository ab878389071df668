"""Both command lines as subprocesses against the simulator: outputs, JSON, errors, exit codes."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pymiio.protocol import build_packet, encode_request
from pymiio.protocol.token import Token
from pymiio.simulator import make_devices

from .addresses import NET
from .conftest import OTHER_TOKEN, TOKEN
from .helpers import simulator_thread

PLUG, OPEN_PLUG, PURIFIER, SILENT = f"{NET}.60.1", f"{NET}.60.2", f"{NET}.60.3", f"{NET}.60.9"


@pytest.fixture(autouse=True)
def devices() -> Iterator[None]:
    """Fresh devices for every test, so no test sees another's changes (order-independent)."""
    fleet = (make_devices(PLUG, token=TOKEN)
             + make_devices(OPEN_PLUG, token=OTHER_TOKEN, unprovisioned=True)
             + make_devices(PURIFIER, token=TOKEN, profile="airpurifier"))
    with simulator_thread(fleet):
        yield


def miio(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pymiio.cli.main", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def classic(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pymiio.cli.classic", *args],
                          capture_output=True, text=True, timeout=60)


def ok_json(done: subprocess.CompletedProcess[str]) -> object:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_help_lists_every_command_and_flag() -> None:
    out = miio("--help").stdout
    for name in ("discover", "info", "send", "send-raw", "miot", "provision", "decode",
                 "devices", "simulate"):
        assert name in out
    out = classic("--help").stdout
    for flag in ("--discover", "--info", "--sendcmd", "--decode", "--ip", "--bindip",
                 "--token", "--debug", "--help"):
        assert flag in out


def test_discover_json_by_broadcast_address_and_range() -> None:
    found = ok_json(miio("discover", "--bind", "127.0.0.1", "--timeout", "1", "--json"))
    assert isinstance(found, list)
    by_ip = {d["ip"]: d for d in found}
    assert {PLUG, OPEN_PLUG, PURIFIER} <= set(by_ip)
    assert {"ip", "device_id", "token", "model"} <= set(by_ip[PLUG])
    assert by_ip[PLUG]["token"] is None and by_ip[OPEN_PLUG]["token"] == OTHER_TOKEN
    [one] = ok_json(miio("discover", PLUG, "--json"))  # type: ignore[misc]
    assert one["ip"] == PLUG
    ranged = ok_json(miio("discover", "--network", f"{NET}.60.0/29", "--timeout", "1", "--json"))
    assert sorted(d["ip"] for d in ranged) == [PLUG, OPEN_PLUG, PURIFIER]  # type: ignore[union-attr]


def test_discover_save_keeps_revealed_tokens(private_dirs: Path) -> None:
    done = miio("discover", "--network", f"{NET}.60.0/30", "--timeout", "1", "--save", "--json")
    assert done.returncode == 0, done.stderr
    listed = ok_json(miio("devices", "list", "--json", "--show-tokens"))
    assert [(e["host"], e["token"]) for e in listed] == [(OPEN_PLUG, OTHER_TOKEN)]  # type: ignore[union-attr]
    path = private_dirs / "config" / "devices.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_info_send_and_send_raw() -> None:
    info = ok_json(miio("info", PLUG, "--token", TOKEN, "--json"))
    assert info["model"] == "chuangmi.plug.m1" and info["token"] == "2b00…33cf"  # type: ignore[index]
    shown = ok_json(miio("info", PLUG, "--token", TOKEN, "--json", "--show-token"))
    assert shown["token"] == TOKEN  # type: ignore[index]
    done = miio("send", PLUG, "get_prop", '["power","temperature"]', "--token", TOKEN)
    assert done.returncode == 0 and done.stdout.splitlines() == ["power: on", "temperature: 42"]
    assert ok_json(miio("send", PLUG, "get_prop", '["power"]', "--token", TOKEN,
                        "--json")) == ["on"]
    reply = ok_json(miio("send-raw", PLUG, '{"id":555,"method":"get_prop","params":["power"]}',
                         "--token", TOKEN))
    assert reply == {"id": 555, "result": ["on"]}


def test_miot_get_set_action() -> None:
    got = ok_json(miio("miot", "get", PURIFIER, "2.1", "3.4", "--token", TOKEN, "--json"))
    assert [(g["siid"], g["piid"], g["value"]) for g in got] == [(2, 1, True), (3, 4, 12)]  # type: ignore[union-attr]
    done = miio("miot", "set", PURIFIER, "6.1", "true", "--token", TOKEN)
    assert done.returncode == 0 and done.stdout.strip() == "ok"
    assert "6.1 = true" in miio("miot", "get", PURIFIER, "6.1", "--token", TOKEN).stdout
    assert ok_json(miio("miot", "action", PURIFIER, "4.1", "--token", TOKEN)) == {
        "code": 0, "out": []}


def test_token_sources_flag_then_inventory_then_env() -> None:
    assert miio("devices", "add", "kitchen-plug", "--host", PLUG, "--token", TOKEN,
                "--model", "chuangmi.plug.m1").returncode == 0
    assert miio("send", "kitchen-plug", "get_prop", '["power"]').stdout.strip() == "power: on"
    kept = miio("send", "kitchen-plug", "get_prop", '["power"]', "--timeout", "0.6",
                env={"MIIO_TOKEN": OTHER_TOKEN})  # the entry's own token beats the environment
    assert kept.returncode == 0, kept.stderr
    wrong = miio("send", PLUG, "get_prop", '["power"]', "--timeout", "0.6", "--token",
                 OTHER_TOKEN)
    assert wrong.returncode == 4 and "[token from --token]" in wrong.stderr
    assert miio("send", "kitchen-plug", "get_prop", '["power"]', "--token", TOKEN,
                env={"MIIO_TOKEN": OTHER_TOKEN}).returncode == 0  # the flag beats env
    listed = ok_json(miio("devices", "list", "--json"))
    assert listed[0]["token"] == "2b00…33cf"  # type: ignore[index]
    assert miio("devices", "remove", "kitchen-plug").returncode == 0
    gone = miio("devices", "remove", "kitchen-plug")
    assert gone.returncode == 2 and "no device named 'kitchen-plug'" in gone.stderr
    assert miio("devices", "add", "kitchen-lamp", "--host", "127.0.0.1",
                "--no-check").returncode == 0
    typo = miio("devices", "remove", "kitchen-lmap")  # a typo: exit 2, the closest name
    assert typo.returncode == 2 and "did you mean 'kitchen-lamp'?" in typo.stderr


def test_provision_saves_the_revealed_token() -> None:
    fresh = f"{NET}.62.1"
    with simulator_thread(make_devices(fresh, token=OTHER_TOKEN, unprovisioned=True)):
        done = miio("provision", fresh, "--ssid", "home", "--password", "pw", "--name", "new")
        assert done.returncode == 0, done.stderr
        assert OTHER_TOKEN not in done.stdout
        [entry] = ok_json(miio("devices", "list", "--json", "--show-tokens"))  # type: ignore[misc]
        assert (entry["name"], entry["host"], entry["token"]) == ("new", fresh, OTHER_TOKEN)
        assert miio("devices", "remove", "new").returncode == 0
        again = miio("provision", fresh, "--ssid", "home", "--password", "pw")
        assert again.returncode == 4 and "provisioned already" in again.stderr


def test_decode_json() -> None:
    packet = build_packet(Token(TOKEN), 0x01020304, 3661, encode_request(9, "get_prop", ["a"]))
    record = ok_json(miio("decode", packet.hex(), "--token", TOKEN, "--json"))
    assert record["device_id"] == 0x01020304 and record["stamp"] == 3661  # type: ignore[index]
    assert record["checksum_ok"] is True and record["uptime"] == "0d 01:01:01"  # type: ignore[index]
    assert record["payload"] == {"id": 9, "method": "get_prop", "params": ["a"]}  # type: ignore[index]
    wrong = ok_json(miio("decode", packet.hex(), "--token", OTHER_TOKEN, "--json"))
    assert wrong["checksum_ok"] is False and wrong["payload"] is None  # type: ignore[index]
    # Without --token the inventory's tokens are tried.
    assert miio("devices", "add", "known", "--token", TOKEN).returncode == 0
    known = ok_json(miio("decode", packet.hex(), "--json"))
    assert known["checksum_ok"] is True and known["token"] == "2b00…33cf"  # type: ignore[index]


@pytest.mark.parametrize(("args", "code", "message"), [
    (("send", PLUG, "get_prop", "--token", OTHER_TOKEN, "--timeout", "2"), 4,
     "a wrong token"),
    (("info", SILENT, "--token", TOKEN, "--timeout", "0.5"), 3, "did not answer the handshake"),
    (("send", PLUG, "set_power", "[]", "--token", TOKEN), 5, "device error -5001"),
    (("send", PLUG, "get_prop", "[oops", "--token", TOKEN), 2, "PARAMS is not valid JSON"),
    (("send", PLUG, "get_prop", "--token", "123"), 4, "32 hexadecimal characters"),
    (("send", PLUG, "get_prop"), 4, "hides its token"),
    (("decode", "21310020ff"), 6, "packet too short"),
    (("decode", "zz"), 6, "not valid hexadecimal"),
    (("decode",), 2, "give either a PACKET"),
    (("discover", "--network", "nonsense"), 2, "not an IPv4 network"),
])
def test_errors_are_one_line_with_distinct_exit_codes(args: tuple[str, ...], code: int,
                                                      message: str) -> None:
    done = miio(*args)
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in done.stderr


def test_debug_dumps_packets_with_tokens_masked() -> None:
    done = miio("--debug", "send", OPEN_PLUG, "get_prop", '["power"]', "--token", OTHER_TOKEN)
    assert done.returncode == 0, done.stderr
    assert f"send {NET}.60.2:54321 hello" in done.stderr and "hello-reply" in done.stderr
    assert OTHER_TOKEN not in done.stderr and "0011…eeff" in done.stderr
    failed = miio("--debug", "info", SILENT, "--token", TOKEN, "--timeout", "0.3")
    assert "Traceback" in failed.stderr and failed.returncode == 3


# -- miio-cli -------------------------------------------------------------------------------

def test_classic_discover_all_and_one() -> None:
    done = classic("--discover", "all", "--bindip", "127.0.0.1", "--timeout", "1")
    assert done.returncode == 0, done.stderr
    assert "hello to 127.255.255.255:54321" in done.stdout
    assert "Found" in done.stdout and f"ip: {OPEN_PLUG}" in done.stdout
    assert f"token: {OTHER_TOKEN}" in done.stdout  # revealed tokens are the point here
    one = classic("--discover", PLUG)
    assert "Found 1 device(s)" in one.stdout and "token: hidden" in one.stdout
    assert classic("--discover", SILENT, "--timeout", "0.4").returncode == 3


def test_classic_info_sendcmd_and_decode() -> None:
    info = classic("--ip", PLUG, "--info", "--token", TOKEN)
    assert info.returncode == 0 and "model: chuangmi.plug.m1" in info.stdout
    assert TOKEN not in info.stdout
    done = classic("--ip", PLUG, "--token", TOKEN, "--sendcmd",
                   '{"method":"toggle",,"params":[],"id":1}')
    assert done.returncode == 0 and json.loads(done.stdout) == {"id": 1, "result": ["ok"]}
    assert "repaired a doubled comma" in done.stderr
    quoted = classic("--ip", PLUG, "--token", TOKEN, "--sendcmd",
                     "'{\"id\":1,\"method\":\"get_prop\",\"params\":[\"power\"]}'")
    assert quoted.returncode == 0 and json.loads(quoted.stdout)["id"] == 1
    packet = build_packet(Token(TOKEN), 7, 8, encode_request(1, "get_prop", ["power"]))
    decoded = classic("--token", TOKEN, "--decode", packet.hex())
    assert decoded.returncode == 0 and '"get_prop"' in decoded.stdout


def test_classic_debug_shows_packets_with_masked_tokens() -> None:
    done = classic("--ip", OPEN_PLUG, "--debug", "--sendcmd",
                   '{"id":3,"method":"get_prop","params":["power"]}')
    assert done.returncode == 0, done.stderr
    assert "hello-reply (token revealed)" in done.stderr and OTHER_TOKEN not in done.stderr
    assert "did=" in done.stderr and "stamp=" in done.stderr


def test_classic_reveals_and_uses_the_token_of_an_open_device() -> None:
    # A device that reveals its token needs no --token.
    fleet = make_devices(f"{NET}.61.1", token=TOKEN, unprovisioned=True)
    with simulator_thread(fleet):
        done = classic("--ip", f"{NET}.61.1", "--sendcmd",
                       '{"id":1,"method":"get_prop","params":["power"]}')
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == ["on"]


@pytest.mark.parametrize(("args", "message"), [
    (("--info",), "--info needs --ip"),
    (("--sendcmd", '{"method":"x"}'), "--sendcmd needs --ip"),
    (("--ip", PLUG, "--sendcmd", "{oops"), "--sendcmd is not valid JSON"),
    ((), "nothing to do"),
])
def test_classic_guidance(args: tuple[str, ...], message: str) -> None:
    done = classic(*args)
    assert done.returncode == 2 and message in done.stderr


def test_bad_files_and_names_are_clear_errors(private_dirs: Path) -> None:
    inventory = private_dirs / "config" / "devices.json"
    inventory.parent.mkdir(parents=True)
    inventory.write_text("{not json")
    done = miio("devices", "list")
    assert done.returncode == 6 and "inventory" in done.stderr and "not valid JSON" in done.stderr
    inventory.write_text('{"devices": []}')
    assert "not a pymiio device inventory" in miio("devices", "list").stderr
    inventory.unlink()
    bad_name = miio("devices", "add", "no spaces please", "--host", PLUG)
    assert bad_name.returncode == 6 and "bad device name" in bad_name.stderr
    missing = miio("simulate", "--config", str(private_dirs / "nope.toml"))
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    (private_dirs / "bad.toml").write_text("this is = = not toml")
    broken = miio("simulate", "--config", str(private_dirs / "bad.toml"))
    assert broken.returncode == 1 and "not valid TOML" in broken.stderr
    outside = miio("simulate", "--host", "10.1.2.3", "--duration", "0")
    assert outside.returncode == 1 and "outside 127.0.0.0/8" in outside.stderr


def test_demo_leaves_no_inventory_behind(tmp_path: Path) -> None:  # 13.23
    done = subprocess.run([sys.executable, "-m", "pymiio.demo"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "TMPDIR": str(tmp_path),
                                            "PYMIIO_DEMO_NET": NET})
    assert done.returncode == 0, done.stderr
    assert "demo finished" in done.stdout and "kitchen-plug" in done.stdout
    assert list(tmp_path.iterdir()) == []  # the temporary inventory (with a token) is gone
    # issue 28: a MIoT purifier, a vacuum and a lamp by name, the dashboard, HA discovery
    out = done.stdout
    assert "air-purifier:mode: Favorite (2)" in out and "must be from 0 to 14" in done.stderr
    assert "state: Cleaning (5)" in out and "brightness: 55 %" in out
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/", out)
    assert re.search(r"purifier +pymiio\.airpurifier\.v1 .* online +pushed", out)
    assert "one Home Assistant discovery payload (homeassistant/device/" in out
    assert '"pymiio/purifier/set/air-purifier:mode"' in out


def test_simulate_help_names_every_profile() -> None:
    from pymiio.simulator.profiles import BUILTIN

    from .cli_runner import miio as run

    shown = " ".join(run("simulate", "--help").out.split())
    for name, profile in BUILTIN.items():
        assert f"{name} ({profile.model}," in shown


def test_parallel_adds_ask_their_devices_outside_the_lock(private_dirs: Path) -> None:
    """Twenty `devices add` at once, half to an address that never answers (2 s each): the
    device is asked before the inventory is locked, so none waits out the lock and none is
    lost (holding the lock across the question refused most of them after 10 s)."""
    runs = [subprocess.Popen(
        [sys.executable, "-m", "pymiio.cli.main", "devices", "add", f"dev-{i}", "--host",
         PLUG if i % 2 else SILENT, "--token", TOKEN, "--timeout", "10" if i % 2 else "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(20)]
    outcomes = [(run.wait(timeout=120), run.stderr.read() if run.stderr else "")
                for run in runs]
    for run in runs:
        for stream in (run.stdout, run.stderr):
            if stream is not None:
                stream.close()
    assert [code for code, _ in outcomes] == [0] * 20, outcomes
    assert sum("saved without checking" in err for _, err in outcomes) == 10
    saved = ok_json(miio("devices", "list", "--json"))
    assert isinstance(saved, list)
    models = {entry["name"]: entry["model"] for entry in saved}
    assert set(models) == {f"dev-{i}" for i in range(20)}
    assert {models[f"dev-{i}"] for i in range(1, 20, 2)} == {"chuangmi.plug.m1"}
    assert {models[f"dev-{i}"] for i in range(0, 20, 2)} == {None}
