"""Issue 26 item 6: text from devices, specs, backups and the inventory is shown literally.
Rich markup in it (``[/x]``, ``[link=file:///etc/passwd]``) is printed as written, never
parsed; terminal escapes (``\\x1b]0;…\\x07``, ``\\x1b[2J``, C1 controls, bidi overrides) are
written out, never executed. Through the CLI: devices list, info, status, get, spec show,
watch, tokens extract, error lines; discover's table by its own function."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pymiio.cli.output import json_text, literal
from pymiio.knowledge.miot_spec import parse_spec
from pymiio.literal_text import visible
from pymiio.simulator import make_devices
from pymiio.simulator.device import SimulatedDevice
from pymiio.simulator.profiles import spec_profile

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import simulator_thread

TITLE = "\x1b]0;pwned\x07"  # sets the terminal's title
CLEAR = "\x1b[2J"  # clears the screen
LINK = "[link=file:///etc/passwd]click me[/link]"
CLOSE = "[/x]"  # a closing tag with no opening one: rich's MarkupError
C1 = "\x9b31m"  # CSI as one C1 character
BIDI = "\u202eevil"  # right-to-left override
HOSTILE = f"{CLOSE}{TITLE}{LINK}{CLEAR}{C1}{BIDI}"
SHOWN = ("[/x]", "\\x1b]0;pwned\\x07", "[link=file:///etc/passwd]click me[/link]",
         "\\x1b[2J", "\\x9b31m", "\\u202eevil")
RAW = ("\x1b]", "\x07", "\x1b[2J", "\x9b", "\u202e")  # what must never reach the terminal
HOST = f"{NET}.171.1"


def inert(text: str) -> bool:
    return not any(raw in text for raw in RAW)


def shown_literally(text: str) -> bool:
    return all(part in text for part in SHOWN) and inert(text)


def test_visible_writes_out_every_control_and_nothing_else() -> None:
    assert visible(HOSTILE) == "".join(SHOWN)
    assert visible("a\tb\nc\x00\x7f") == "a\\x09b\\x0ac\\x00\\x7f"
    assert visible("a\nb", keep_newlines=True) == "a\nb"
    assert visible("Zimmer: 21,5 °C – ok [1]") == "Zimmer: 21,5 °C – ok [1]"  # text stays
    assert literal(CLOSE).plain == CLOSE and literal(None).plain == ""
    encoded = json_text({"name": HOSTILE})
    assert json.loads(encoded) == {"name": HOSTILE}  # the same JSON, only escaped
    assert not any(raw in encoded for raw in RAW)


# -- the inventory ---------------------------------------------------------------------------

@pytest.mark.parametrize("env", [None, {"FORCE_COLOR": "1", "COLUMNS": "400"}])
def test_devices_list_shows_a_hostile_model_as_written(env: dict[str, str] | None) -> None:
    added = miio("devices", "add", "evil", "--host", "127.0.0.1", "--model", HOSTILE,
                 "--no-check")
    assert added.code == 0 and shown_literally(added.out), added
    listed = miio("devices", "list", env=env)
    assert listed.code == 0, listed.err  # was: MarkupError, every time
    assert shown_literally(listed.out)
    assert "\x1b]8;" not in listed.out  # no terminal hyperlink, even on a colour terminal
    assert json.loads(miio("devices", "list", "--json").out)[0]["model"] == HOSTILE


# -- a hostile device and spec ---------------------------------------------------------------

def _spec() -> dict[str, Any]:
    return {"type": "urn:miot-spec-v2:device:thing:0000A0FF:evil:1",
            "description": HOSTILE, "services": [
                {"iid": 2, "type": "urn:miot-spec-v2:service:thing:00007800:evil:1",
                 "description": HOSTILE, "properties": [
                     {"iid": 1, "type": "urn:miot-spec-v2:property:mode:00000008:evil:1",
                      "description": HOSTILE, "format": "uint8",
                      "access": ["read", "write", "notify"],
                      "value-list": [{"value": 0, "description": f"{TITLE}auto"},
                                     {"value": 1, "description": f"{CLOSE}{CLEAR}sleep"}]},
                     {"iid": 2, "type": "urn:miot-spec-v2:property:label:00000009:evil:1",
                      "description": "label", "format": "string",
                      "access": ["read", "write", "notify"]},
                     {"iid": 3, "type": f"urn:evil-spec:property:{LINK}:00000001:evil:1",
                      "format": "uint8", "access": ["read"], "unit": f"{C1}{BIDI}"}]}]}


@pytest.fixture
def evil(tmp_path: Path) -> Iterator[tuple[SimulatedDevice, Path]]:
    spec_file = tmp_path / "evil.json"
    spec_file.write_text(json.dumps(_spec()))
    profile = spec_profile(parse_spec(_spec(), HOSTILE))
    [device] = make_devices(HOST, token=TOKEN, profile=profile)
    device.set_value(2, 2, HOSTILE)
    with simulator_thread([device]):
        yield device, spec_file


def test_info_status_get_and_spec_show_print_hostile_text_literally(
        evil: tuple[SimulatedDevice, Path]) -> None:
    _device, spec_file = evil
    info = miio("info", HOST, "--token", TOKEN)
    assert info.code == 0 and shown_literally(info.out), info
    spec = ("--token", TOKEN, "--spec", str(spec_file))
    status = miio("status", HOST, *spec)
    assert status.code == 0 and inert(status.out), status
    assert "\\x1b]0;pwned\\x07auto (0)" in status.out  # the label of the current value
    assert '"[/x]\\u001b]0;pwned\\u0007[link=file:///etc/passwd]click me[/link]\\u001b[2J' \
        '\\u009b31m\\u202eevil"' in status.out  # a text value is shown as JSON
    assert "0 \\x9b31m\\u202eevil" in status.out  # a unit
    got = miio("get", HOST, "label", "mode", *spec)
    assert got.code == 0 and inert(got.out), got
    assert got.out.splitlines()[1] == "thing:mode: \\x1b]0;pwned\\x07auto (0)"
    shown = miio("spec", "show", str(spec_file))
    assert shown.code == 0 and inert(shown.out), shown
    assert "\\x1b]0;pwned\\x07auto (0), [/x]\\x1b[2Jsleep (1)" in shown.out
    assert "\\x9b31m\\u202eevil" in shown.out  # the unit
    entries = miio("status", HOST, *spec, "--json").json()
    assert {e["name"]: e["value"] for e in entries}["thing:label"] == HOSTILE  # JSON keeps it


def test_error_lines_show_device_text_literally(evil: tuple[SimulatedDevice, Path]) -> None:
    _device, spec_file = evil
    done = miio("set", HOST, "mode", "turbo", "--token", TOKEN, "--spec", str(spec_file))
    assert done.code == 2 and done.err.count("\n") == 1  # the labels are in the message
    assert "\\x1b]0;pwned\\x07auto" in done.err and not any(raw in done.err for raw in RAW)


def test_watch_prints_hostile_labels_and_names_literally(
        evil: tuple[SimulatedDevice, Path]) -> None:
    device, spec_file = evil
    process = subprocess.Popen(
        [sys.executable, "-m", "pymiio.cli.main", "watch", HOST, "--token", TOKEN, "--spec",
         str(spec_file), "--count", "1", "--interval", "3600"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not device.subscribers and time.monotonic() < deadline:
            time.sleep(0.02)
        assert miio("set", HOST, "mode", "1", "--token", TOKEN, "--spec",
                    str(spec_file)).code == 0
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert shown_literally(out), out  # the table of the state first
    assert out.rstrip("\n").splitlines()[-1] == "thing:mode: [/x]\\x1b[2Jsleep (1)  [push]"


# -- files and discovery ---------------------------------------------------------------------

def test_tokens_extract_shows_hostile_names_literally(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "miio2.db"
    with sqlite3.connect(path) as con:  # Mi Home's own table, as tests/token_fixtures.py
        con.execute("CREATE TABLE devicerecord (did TEXT, name TEXT, model TEXT, "
                    "localIP TEXT, mac TEXT, token TEXT, ssid TEXT)")
        con.execute("INSERT INTO devicerecord VALUES (?,?,?,?,?,?,?)",
                    ("67108865", HOSTILE, f"{CLOSE}{TITLE}", "192.0.2.10", f"{CLEAR}{C1}",
                     "2b00042f7481c7b056c4b410d28f33cf", "home"))
    con.close()
    done = miio("tokens", "extract", str(path))
    assert done.code == 0 and shown_literally(done.out), done


def test_discover_table_shows_a_hostile_model_literally() -> None:
    from rich.console import Console

    from pymiio.cli.cmd_discover import _table
    from pymiio.lan.discovery import DiscoveredDevice

    console = Console(width=300, force_terminal=True, color_system="standard")
    with console.capture() as captured:
        console.print(_table([DiscoveredDevice("192.0.2.1", 1, model=HOSTILE)]))
    text = captured.get()
    assert all(part in text for part in SHOWN[:4]) and "\x1b]8;" not in text
    assert "\x1b]0;" not in text and "\x1b[2J" not in text


def test_debug_lines_show_what_the_device_sent_literally(
        evil: tuple[SimulatedDevice, Path]) -> None:
    device, _spec_file = evil
    device.profile.fw_ver = f"1.0{TITLE}{C1}{BIDI}"  # its JSON carries C1 and bidi raw
    done = miio("info", HOST, "--token", TOKEN, "--debug")
    assert done.code == 0 and "debug: " in done.err, done.err
    assert "\\x9b31m\\u202eevil" in done.err + done.out
    assert not any(raw in done.err for raw in RAW) and not any(raw in done.out for raw in RAW)
