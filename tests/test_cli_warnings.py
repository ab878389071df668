"""Warnings a library part logs while a command runs (a device pushing what its description
lacks, request ids that cannot persist) reach the user as the CLI's own warning lines:
``warning: …``, outside text in them shown literally. Python's last-resort handler printed them
bare, with a hostile device's model raw on the terminal."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from pymiio.knowledge.miot_spec import parse_spec
from pymiio.simulator import Simulator, make_devices
from pymiio.simulator.profiles import spec_profile

from .addresses import NET
from .conftest import TOKEN
from .test_hostile_text import HOSTILE, RAW, _spec

HOST = f"{NET}.175.1"


async def test_watch_warns_about_unknown_pushes_in_a_warning_line(tmp_path: Path) -> None:
    spec_file = tmp_path / "evil.json"
    spec_file.write_text(json.dumps(_spec()))
    [device] = make_devices(HOST, token=TOKEN, profile=spec_profile(parse_spec(_spec(), HOSTILE)))
    async with Simulator([device]) as simulator:
        process = subprocess.Popen(
            [sys.executable, "-m", "pymiio.cli.main", "watch", HOST, "--token", TOKEN,
             "--spec", str(spec_file), "--json", "--count", "1", "--interval", "3600"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            async with asyncio.timeout(30):
                while not device.subscribers:
                    await asyncio.sleep(0.02)
            device.push("properties_changed", [{"did": str(device.device_id), "siid": 9,
                                                "piid": 9, "value": 1}])
            device.set_value(2, 1, 1)  # a known change: watch prints it and ends (--count 1)
            simulator.flush(device)
            out, err = await asyncio.to_thread(process.communicate, None, 30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["value"] == 1  # the change after the dropped push
    [line] = [line for line in err.splitlines() if "description does not have" in line]
    assert line.startswith("warning: evil pushed property 9.9"), line
    assert not any(raw in err for raw in RAW)
