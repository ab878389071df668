"""Issue 19, start-up: `--help` answers from text without importing click, rich or the
commands, and that text is exactly what click renders (so the two cannot drift)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pymiio.cli import fast

NOTHING_HEAVY = ("import sys; from pymiio.cli.fast import {entry}; sys.argv = ['x', '--help'];"
                 "{entry}(); heavy = sorted(m for m in ('click', 'rich', 'typing', "
                 "'pymiio.lan.client', 'cryptography') if m in sys.modules); "
                 "sys.stderr.write(repr(heavy))")


@pytest.mark.parametrize(("entry", "module", "text"), [
    ("miio", "pymiio.cli.main", fast.MIIO_HELP),
    ("miio_cli", "pymiio.cli.classic", fast.CLASSIC_HELP)])
def test_help_is_what_click_renders_and_imports_nothing_heavy(entry: str, module: str,
                                                               text: str) -> None:
    env = {**os.environ, "COLUMNS": "80"}
    rendered = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                              text=True, env=env, timeout=60)
    assert rendered.stdout == text  # regenerate fast.py's text if a command changed
    quick = subprocess.run([sys.executable, "-c", NOTHING_HEAVY.format(entry=entry)],
                           capture_output=True, text=True, env=env, timeout=60)
    assert quick.stdout == text and quick.stderr == "[]"


def test_everything_else_goes_to_the_real_command_line() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys; from pymiio.cli.fast import "
                           "miio; sys.argv = ['miio', 'decode', '--help']; sys.exit(miio())"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "Decode PACKET" in done.stdout
