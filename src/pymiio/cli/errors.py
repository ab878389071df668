"""How failures leave the CLIs: one line on stderr and an exit code per kind of failure."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import NoReturn, TypeVar

from pymiio.errors import (
    BackupError,
    CaptureError,
    DeviceError,
    InventoryError,
    MiioError,
    MiioTimeoutError,
    PayloadError,
    ProtocolError,
    TokenError,
    WrongTokenError,
)

EXIT_OK = 0
EXIT_ERROR = 1          # any other pymiio error
EXIT_USAGE = 2          # bad arguments (click's own code too)
EXIT_UNREACHABLE = 3    # no answer: timeout, unreachable host
EXIT_TOKEN = 4          # wrong, missing or malformed token; checksum mismatch
EXIT_DEVICE = 5         # the device answered with an error
EXIT_INPUT = 6          # unreadable input: packet, payload, backup, capture, inventory

T = TypeVar("T")


def exit_code(error: BaseException) -> int:
    """The exit code for an error; order matters (WrongTokenError is also a timeout)."""
    if isinstance(error, WrongTokenError | TokenError) or (
            isinstance(error, ProtocolError) and "token" in str(error)):
        return EXIT_TOKEN
    if isinstance(error, MiioTimeoutError):
        return EXIT_UNREACHABLE
    if isinstance(error, DeviceError):
        return EXIT_DEVICE
    if isinstance(error, PayloadError | ProtocolError | BackupError | CaptureError
                  | InventoryError):
        return EXIT_INPUT
    return EXIT_ERROR


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print one line on stderr and exit."""
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(code)


def run_guarded(action: Callable[[], T], debug: bool) -> T:
    """Run ``action``; a pymiio error becomes one line and its exit code (traceback with debug)."""
    try:
        return action()
    except MiioError as error:
        if debug:
            traceback.print_exc()
        fail(str(error), exit_code(error))
    except KeyboardInterrupt:
        fail("interrupted", 130)


def debug_enabled() -> bool:
    """Whether ``--debug`` was given to the top-level command."""
    import click

    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return bool(isinstance(obj, dict) and obj.get("debug"))
