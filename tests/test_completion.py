"""Issue 28: shell completion (click's) completes device names from the inventory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click

from pymiio.cli.common import complete_device
from pymiio.inventory import Entry, Inventory

from .conftest import TOKEN


def _complete(*words: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", "from pymiio.cli.fast import miio; miio()"],
        env={**os.environ, "_MIIO_COMPLETE": "bash_complete", "COMP_WORDS": " ".join(words),
             "COMP_CWORD": str(len(words) - 1)}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_device_names_complete_in_the_shell(private_dirs: Path) -> None:
    with Inventory.locked() as inventory:
        for name in ("kitchen-plug", "kitchen-lamp", "purifier"):
            inventory.add(Entry(name, "127.0.0.9", TOKEN))
    assert _complete("miio", "status", "kit") == ["plain,kitchen-lamp", "plain,kitchen-plug"]
    assert _complete("miio", "bridge", "--device", "pu") == ["plain,purifier"]
    assert _complete("miio", "send", "") == ["plain,kitchen-lamp", "plain,kitchen-plug",
                                             "plain,purifier"]
    assert "_miio_completion" in subprocess.run(
        [sys.executable, "-c", "from pymiio.cli.fast import miio; miio()"],
        env={**os.environ, "_MIIO_COMPLETE": "bash_source"}, capture_output=True, text=True,
        timeout=60).stdout


def test_completion_never_fails(private_dirs: Path) -> None:
    context = click.Context(click.Command("x"))
    param = click.Argument(["device"])
    assert complete_device(context, param, "") == []  # no inventory yet
    path = Inventory().path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    assert complete_device(context, param, "k") == []  # a broken one: nothing, no traceback
    path.write_text('{"devices": {"kitchen": {"host": "127.0.0.9"}}}')
    assert [item.value for item in complete_device(context, param, "k")] == ["kitchen"]
