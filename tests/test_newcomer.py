"""What a newcomer following README.md and docs/cli.md meets: each command prints what the docs
say, in the same way wherever the same thing is shown."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from pymiio.simulator import make_devices, profile_for

from .addresses import NET
from .cli_runner import miio
from .conftest import TOKEN
from .helpers import simulator_thread


def test_watch_prints_a_change_as_get_prints_the_value() -> None:
    """`get` prints `Sleep (1)`; a change of the same property in `watch` reads the same."""
    [purifier] = make_devices(f"{NET}.231.1", token=TOKEN, profile=profile_for("airpurifier"))
    with simulator_thread([purifier]):
        process = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "watch", purifier.host, "--token", TOKEN,
             "--count", "1", "--interval", "3600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not purifier.subscribers and time.monotonic() < deadline:
                time.sleep(0.02)
            assert miio("set", purifier.host, "mode", "favorite", "--token", TOKEN).code == 0
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        got = miio("get", purifier.host, "mode", "--token", TOKEN)
    assert process.returncode == 0, err
    assert got.out == "air-purifier:mode: Favorite (2)\n"
    assert out.rstrip("\n").splitlines()[-1] == "air-purifier:mode: Favorite (2)  [push]"


def test_a_usage_error_is_one_error_line_with_exit_2() -> None:
    """docs/cli.md: errors are one line on stderr starting `error: `; click's are no exception."""
    typo = miio("stauts", "x")
    assert (typo.code, typo.out) == (2, "")
    assert typo.err == ("error: No such command 'stauts'; did you mean 'status'? "
                        "(see 'miio --help')\n")
    missing = miio("get")
    assert missing.code == 2
    assert missing.err == "error: Missing argument 'DEVICE'. (see 'miio get --help')\n"
    as_json = miio("status", "--json")
    assert as_json.code == 2
    assert json.loads(as_json.err) == {"error": {
        "message": "Missing argument 'DEVICE'. (see 'miio status --help')",
        "type": "UsageError", "exit_code": 2}}


def test_bridge_device_not_in_the_inventory_suggests_close_names() -> None:
    """`--device kitchen` for `kitchen-plug`: the bridge suggests as every other command does."""
    assert miio("devices", "add", "kitchen-plug", "--host", f"{NET}.231.2", "--token", TOKEN,
                "--no-check").code == 0
    done = miio("bridge", "--broker", "mqtt://127.0.0.1:1", "--device", "kitchen", "--check")
    assert (done.code, done.out) == (2, "")
    assert done.err == ("error: no device named kitchen in the inventory; "
                        "did you mean 'kitchen-plug'?\n")
