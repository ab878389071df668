"""Issue 13, command-line items, in-process against simulated devices on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from pymiio.protocol import parse_packet
from pymiio.protocol.token import Token
from pymiio.simulator import make_devices
from pymiio.simulator.device import SimulatedDevice

from .addresses import NET
from .cli_runner import miio, miio_cli
from .conftest import OTHER_TOKEN, TOKEN
from .helpers import simulator_thread

PLUG, PURIFIER, VACUUM, OPEN_PLUG = (f"{NET}.90.1", f"{NET}.90.2", f"{NET}.90.3",
                                     f"{NET}.90.4")


@pytest.fixture(autouse=True)
def fleet() -> Iterator[list[SimulatedDevice]]:
    devices = (make_devices(PLUG, token=TOKEN) + make_devices(PURIFIER, token=TOKEN,
                                                              profile="airpurifier")
               + make_devices(VACUUM, token=TOKEN, profile="vacuum")
               + make_devices(OPEN_PLUG, token=OTHER_TOKEN, unprovisioned=True))
    with simulator_thread(devices):
        yield devices


def test_miot_ids_are_read_as_everywhere_else(fleet: list[SimulatedDevice]) -> None:
    """miio miot reads SIID.PIID with the model's parse_pair: up to 99999, nothing sent
    for text that is no pair of instance ids."""
    before = fleet[1].stats.requests
    for text in ("2.0", "2.100000", "2.1.3", "+2.1", "two.one"):
        refused = miio("miot", "get", PURIFIER, text, "--token", TOKEN)
        assert refused.code == 2 and "numbers from 1 to 99999" in refused.err, text
    assert fleet[1].stats.requests == before
    far = miio("miot", "get", PURIFIER, "2.1021", "--token", TOKEN)  # a real spec's piid
    assert far.code == 5 and "2.1021: error -4003" in far.err


def test_miot_item_errors_exit_5_with_their_meaning() -> None:  # 13.14
    done = miio("miot", "get", PURIFIER, "2.1", "9.9", "--token", TOKEN)
    assert done.code == 5 and "2.1 = true" in done.out
    assert "9.9: error -4003 (property, action or service does not exist)" in done.err
    readonly = miio("miot", "set", PURIFIER, "3.4", "5", "--token", TOKEN, "--json")
    assert readonly.code == 5 and json.loads(readonly.out)[0]["code"] == -4002
    action = miio("miot", "action", PURIFIER, "9.1", "--token", TOKEN)
    assert action.code == 5 and "-4003" in action.err
    classic = miio_cli("--ip", PLUG, "--token", TOKEN, "--sendcmd", '{"method":"nope","id":9}')
    assert classic.code == 5 and json.loads(classic.out)["error"]["code"] == -32601
    assert "unknown method" in classic.err


def test_a_repeated_request_id_is_retried_fresh_not_blamed_on_the_token() -> None:  # 13.15
    command = '{"id":1,"method":"get_status","params":[]}'
    assert miio("send-raw", VACUUM, command, "--token", TOKEN).code == 0
    again = miio("send-raw", VACUUM, command, "--token", TOKEN, "--debug")
    assert again.code == 0, again.err
    assert json.loads(again.out[again.out.index("{"):])["id"] == 1
    assert "retrying with fresh ids" in again.err
    classic = miio_cli("--ip", VACUUM, "--token", TOKEN, "--sendcmd", command)
    assert classic.code == 0, classic.err


def test_giving_up_names_the_likely_causes_and_the_token_source() -> None:  # 13.15
    done = miio("send", PLUG, "get_prop", "--token", OTHER_TOKEN, "--timeout", "2")
    assert done.code == 4
    line = done.err.strip()
    assert line.index("seen already") < line.index("too slow") < line.index("wrong token")
    assert "[token from --token]" in line
    env = miio("send", PLUG, "get_prop", "--timeout", "2", env={"MIIO_TOKEN": OTHER_TOKEN})
    assert env.code == 4 and "[token from MIIO_TOKEN]" in env.err


def test_send_masks_tokens_in_results_unless_asked() -> None:  # 13.16
    masked = miio("send", PLUG, "miIO.info", "--token", TOKEN)
    assert masked.code == 0 and TOKEN not in masked.out and "2b00…33cf" in masked.out
    shown = miio("send", PLUG, "miIO.info", "--token", TOKEN, "--json", "--show-token")
    assert shown.json()["token"] == TOKEN


@pytest.mark.parametrize("host", ["10.0.0", "127.0.48", "127.0.48.300", "http://10.0.0.1"])
def test_malformed_addresses_exit_2_and_send_nothing(host: str,
                                                     fleet: list[SimulatedDevice]) -> None:
    done = miio("send", host, "get_prop", "--token", TOKEN, "--timeout", "0.3")
    assert done.code == 2 and "error:" in done.err
    saved = miio("devices", "add", "x", "--host", host, "--token", TOKEN)
    assert saved.code == 2 and "x" not in miio("devices", "list", "--json").out


def test_bare_names_are_not_looked_up_and_close_names_are_suggested() -> None:  # 13.17
    assert miio("devices", "add", "kitchen-plug", "--host", PLUG, "--token", TOKEN).code == 0
    done = miio("send", "kitchen", "get_prop")
    assert done.code == 2 and "no device named 'kitchen'" in done.err
    assert "'kitchen-plug'" in done.err and "DNS" in done.err


def test_devices_add_asks_the_device_for_its_model_and_id(
        fleet: list[SimulatedDevice]) -> None:  # 13.17
    added = miio("devices", "add", "purifier", "--host", PURIFIER, "--token", TOKEN, "--json")
    entry = added.json()
    assert entry["model"] == "pymiio.airpurifier.v1"
    assert entry["device_id"] == fleet[1].device_id and entry["token"] == "2b00…33cf"
    silent = miio("devices", "add", "gone", "--host", f"{NET}.90.99", "--token", TOKEN,
                  "--timeout", "0.3")
    assert silent.code == 0 and "saved without checking" in silent.err


def test_every_result_command_takes_json_and_errors_become_json() -> None:  # 13.18
    raw = miio("send-raw", PLUG, '{"id":5,"method":"get_prop","params":["power"]}',
               "--token", TOKEN, "--json")
    assert raw.json() == {"id": 5, "result": ["on"]}
    assert miio("miot", "action", PURIFIER, "4.1", "--token", TOKEN, "--json").json() == {
        "code": 0, "out": []}
    assert miio("devices", "add", "p", "--host", PLUG, "--no-check", "--json").json()["name"] == "p"
    [found] = miio("discover", PLUG, "--json").json()
    assert isinstance(found["device_type"], str) and isinstance(found["serial"], str)
    assert int(found["device_type"] + found["serial"], 16) == found["device_id"]
    failed = miio("send", PLUG, "get_prop", "--token", OTHER_TOKEN, "--timeout", "2",
                  "--json")
    error = json.loads(failed.err)["error"]
    assert failed.code == 4 and error["exit_code"] == 4 and error["type"] == "WrongTokenError"


def test_provision_takes_json(fleet: list[SimulatedDevice]) -> None:  # 13.18
    done = miio("provision", OPEN_PLUG, "--ssid", "home", "--password", "pw", "--json")
    result = done.json()
    assert result["provisioned"] and result["token"] == "0011…eeff"
    assert result["device_id"] == fleet[3].device_id


def test_debug_after_the_subcommand_shows_the_decrypted_json_masked() -> None:  # 13.19
    done = miio("send", PLUG, "miIO.info", "--token", TOKEN, "--debug")
    assert done.code == 0
    assert "request" in done.err and '"method":"miIO.info"' in done.err
    assert '"model":"chuangmi.plug.m1"' in done.err
    assert TOKEN not in done.err and "2b00…33cf" in done.err


def test_plain_send_output_keeps_labels_nulls_and_empty_strings(
        fleet: list[SimulatedDevice]) -> None:  # 13.20
    fleet[0].profile.props.update(name="", missing=None)
    done = miio("send", PLUG, "get_prop", '["power","temperature","name","missing"]',
                "--token", TOKEN)
    assert done.out.splitlines() == ["power: on", "temperature: 42", 'name: ""',
                                     "missing: null"]
    listed = miio("send", PLUG, "get_status", "--token", TOKEN)
    assert listed.code == 0 and json.loads(listed.out)[0]["name"] == ""  # nested: JSON


def test_classic_runs_info_and_sendcmd_together_and_has_a_version() -> None:  # 13.21
    done = miio_cli("--ip", PLUG, "--token", TOKEN, "--info", "--sendcmd",
                    '{"id":4,"method":"get_prop","params":["power"]}')
    assert done.code == 0 and "model: chuangmi.plug.m1" in done.out
    assert json.loads(done.out[done.out.index("\n{"):]) == {"id": 4, "result": ["on"]}
    version = miio_cli("--version")
    assert version.code == 0 and "miio-cli" in version.out


def test_classic_discover_all_lists_devices_as_they_answer() -> None:  # 13.21
    done = miio_cli("--discover", "all", "--bindip", "127.0.0.1", "--timeout", "1")
    lines = done.out.splitlines()
    assert lines[0].startswith("Sending hello") and lines[-1].startswith("Found")
    assert any(PLUG in line for line in lines[1:-1])


def test_empty_discovery_says_what_to_check() -> None:  # 13.22
    done = miio("discover", "--network", f"{NET}.91.0/30", "--timeout", "0.3")
    assert done.code == 0 and "hint:" in done.err and "firewall" in done.err


def test_provision_saves_the_token_before_the_device_hides_it(
        fleet: list[SimulatedDevice]) -> None:  # 13.12
    device = fleet[3]
    original = device.handle

    def lose_the_acknowledgement(data: bytes, now: float, *source: object) -> list[bytes]:
        replies = original(data, now)
        if len(data) > 32:
            payload = parse_packet(data, device.token).payload or b""
            if b"config_router" in payload:
                return []
        return replies

    device.handle = lose_the_acknowledgement  # type: ignore[method-assign]
    done = miio("provision", OPEN_PLUG, "--ssid", "home", "--password", "pw", "--name", "new",
                "--timeout", "1")
    assert done.code == 3 and "saved as 'new' already" in done.err
    [entry] = miio("devices", "list", "--json", "--show-tokens").json()
    assert entry["token"] == Token(OTHER_TOKEN).hex and device.provisioned


def test_unexpected_errors_are_one_line_without_debug(monkeypatch: pytest.MonkeyPatch,
                                                      private_dirs: Path) -> None:  # 13.6
    from pymiio.lan import sync

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("a bug")

    monkeypatch.setattr(sync.Device, "info", broken)
    done = miio("info", PLUG, "--token", TOKEN)
    assert done.code == 1 and done.err.count("\n") == 1 and "internal error" in done.err
    assert "Traceback" not in done.err
    assert "Traceback" in miio("info", PLUG, "--token", TOKEN, "--debug").err
