"""Output read by a program that stops early (``miio spec show X | head``, ``miio watch D |
head -3``): the reader closes the pipe, the next write fails with EPIPE. Like other Unix tools,
miio stops quietly with 141 (128 + SIGPIPE, what a shell shows for a tool the signal ended),
not with 'internal error: BrokenPipeError' nor Python's 'Exception ignored' at exit."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pymiio.simulator import make_devices

from .addresses import NET
from .conftest import TOKEN
from .helpers import simulator_thread

PURIFIER = f"{NET}.173.1"


def _closed_early(*args: str) -> subprocess.CompletedProcess[str]:
    """``args`` with its stdout a pipe whose reader is gone before the first write."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "pymiio.cli.main", *args], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60, env=os.environ)
    finally:
        os.close(write)


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_spec_show_into_a_closed_pipe_stops_quietly(json_flag: tuple[str, ...]) -> None:
    done = _closed_early("spec", "show", "pymiio.airpurifier.v1", *json_flag)
    assert (done.returncode, done.stderr) == (141, "")


def test_watch_and_status_into_a_closed_pipe_stop_quietly() -> None:
    with simulator_thread(make_devices(PURIFIER, token=TOKEN, profile="airpurifier")):
        status = _closed_early("status", PURIFIER, "--token", TOKEN)
        assert (status.returncode, status.stderr) == (141, "")
        watch = _closed_early("watch", PURIFIER, "--token", TOKEN, "--json")
        assert (watch.returncode, watch.stderr) == (141, "")


def test_miio_cli_into_a_closed_pipe_stops_quietly() -> None:
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run([sys.executable, "-m", "pymiio.cli.classic", "--token", TOKEN,
                               "--decode", "21310020" + "ff" * 28], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60, env=os.environ)
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
def test_a_full_disk_is_one_error_line_not_an_internal_error() -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "pymiio.cli.main", "spec", "show",
                               "pymiio.airpurifier.v1"], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=60, env=os.environ)
    assert done.returncode == 1
    assert done.stderr == "error: cannot go on: No space left on device\n"


def test_a_closed_stdout_is_no_error() -> None:
    """Started with standard output closed (``>&-``, a daemon's way): the command runs, and
    what it would print goes nowhere."""
    done = subprocess.run([sys.executable, "-m", "pymiio.cli.main", "spec", "show",
                           "pymiio.airpurifier.v1"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=60, env=os.environ,
                          preexec_fn=lambda: os.close(1))
    assert (done.returncode, done.stderr) == (0, "")
