"""How failures leave the CLIs: one line on stderr and an exit code per kind of failure.

Under ``--json`` the line is a JSON object (``{"error": {"message", "type", "exit_code"}}``) so
scripts never parse prose. Nothing but ``--debug`` shows a traceback, and Ctrl-C exits 130
wherever it lands (a prompt included). Output whose reader went away (``miio spec show X |
head``) ends quietly with 141, as a Unix tool ended by SIGPIPE does.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from pymiio.cli.debug_log import reset_debug_logging, setup_warning_logging
from pymiio.errors import (
    AddressError,
    BackupError,
    CaptureError,
    DeviceError,
    InventoryError,
    MiioError,
    MiioTimeoutError,
    PayloadError,
    ProtocolError,
    SpecError,
    TokenError,
    UsageError,
    WrongTokenError,
)

if TYPE_CHECKING:
    import click

EXIT_OK = 0
EXIT_ERROR = 1          # any other pymiio error
EXIT_USAGE = 2          # bad arguments (click's own code too)
EXIT_UNREACHABLE = 3    # no answer: timeout, unreachable host
EXIT_TOKEN = 4          # wrong, missing or malformed token; checksum mismatch
EXIT_DEVICE = 5         # the device answered with an error
EXIT_INPUT = 6          # unreadable input: packet, payload, backup, capture, inventory
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_CLOSED = 141       # stdout's reader went away (128 + SIGPIPE, as other Unix tools)

T = TypeVar("T")

_state: dict[str, Any] = {"json": False, "debug": False}


def set_json_errors(enabled: bool) -> None:
    """Errors of this command are printed as JSON objects (set by every ``--json`` option)."""
    _state["json"] = _state["json"] or enabled


def set_debug(enabled: bool) -> None:
    _state["debug"] = _state["debug"] or enabled


def exit_code(error: BaseException) -> int:
    """The exit code for an error; order matters (WrongTokenError is also a timeout)."""
    if isinstance(error, AddressError | UsageError):
        return EXIT_USAGE
    if isinstance(error, WrongTokenError | TokenError) or (
            isinstance(error, ProtocolError) and not isinstance(error, PayloadError)
            and "token" in str(error)):
        return EXIT_TOKEN
    if isinstance(error, MiioTimeoutError):
        return EXIT_UNREACHABLE
    if isinstance(error, DeviceError):
        return EXIT_DEVICE
    if isinstance(error, PayloadError | ProtocolError | BackupError | CaptureError
                  | InventoryError | SpecError):
        return EXIT_INPUT
    return EXIT_ERROR


def fail(message: str, code: int = EXIT_USAGE, kind: str = "UsageError") -> NoReturn:
    """Print one line on stderr (a JSON object under ``--json``) and exit."""
    line = " ".join(message.split())  # one line, whatever the message held
    if _state["json"]:
        sys.stderr.write(json.dumps({"error": {"message": line, "type": kind,
                                               "exit_code": code}}) + "\n")
    else:
        from pymiio.literal_text import visible  # a device's text in it stays inert

        sys.stderr.write(f"error: {visible(line)}\n")
    raise SystemExit(code)


def output_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (``| head`` read what it wanted)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.__stdout__.fileno(), select.POLLOUT)  # type: ignore[union-attr]
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no real stdout (a test's capture)
        return False


def quit_quietly() -> NoReturn:
    """End with :data:`EXIT_CLOSED` and no line: the reader asked for no more. Standard output
    is pointed at /dev/null first, so the interpreter's last flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError):
        pass
    raise SystemExit(EXIT_CLOSED)


def fail_with(error: BaseException) -> NoReturn:
    """The one-line report of any exception; a traceback only with ``--debug``."""
    if isinstance(error, BrokenPipeError) and output_closed():
        quit_quietly()
    if _state["debug"]:
        traceback.print_exception(error)
    import click

    if isinstance(error, click.exceptions.Abort) and isinstance(error.__context__, EOFError):
        fail("no answer on standard input", EXIT_USAGE)
    if isinstance(error, KeyboardInterrupt | click.exceptions.Abort):
        fail("interrupted", EXIT_INTERRUPTED, "Interrupted")
    if isinstance(error, MiioError):
        fail(str(error) or type(error).__name__, exit_code(error), type(error).__name__)
    if isinstance(error, RecursionError):
        fail("the input is nested too deeply to read", EXIT_INPUT, "PayloadError")
    if isinstance(error, MemoryError):
        fail("the input is too large to read in memory", EXIT_INPUT, "PayloadError")
    if isinstance(error, OSError) and error.strerror:  # the system refused (a full disk)
        where = f" ({error.filename})" if error.filename else ""
        fail(f"cannot go on: {error.strerror}{where}", EXIT_ERROR, type(error).__name__)
    fail(f"internal error: {type(error).__name__}: {error} (run with --debug for the "
         "traceback)", EXIT_ERROR, type(error).__name__)


def run_guarded(action: Callable[[], T], debug: bool = False) -> T:
    """Run ``action``; any failure becomes one line and its exit code."""
    set_debug(debug)
    try:
        return action()
    except (Exception, KeyboardInterrupt) as error:
        fail_with(error)


def run_cli(command: click.Command, argv: Sequence[str] | None, prog_name: str) -> int:
    """Run a click command the way both CLIs want: ``--debug`` accepted anywhere before
    ``--``, click's usage errors as one ``error:`` line (exit 2), everything else through
    :func:`fail_with`."""
    import click

    _state.update(json=False, debug=False)
    for name in ("stdout", "stderr"):  # started with the stream closed (>&-): nothing shown
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 (for the process's life)
    reset_debug_logging()
    setup_warning_logging()
    args = list(sys.argv[1:] if argv is None else argv)
    cut = args.index("--") if "--" in args else len(args)
    if "--debug" in args[:cut]:
        args = ["--debug", *[a for i, a in enumerate(args) if a != "--debug" or i >= cut]]
    try:
        result = command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.ClickException as error:  # one line too, pointing at the command's --help
        message = error.format_message()
        ctx = getattr(error, "ctx", None)
        if isinstance(error, click.UsageError) and ctx is not None:
            message = f"{message} (see '{ctx.command_path} --help')"
        set_json_errors("--json" in args[:cut])
        fail(message, error.exit_code, "UsageError")
    except SystemExit as exit_:
        # click's and rich's own answers to EPIPE: exit 1 (rich after pointing stdout at
        # /dev/null, while handling the BrokenPipeError)
        if exit_.code == 1 and (output_closed()
                                or isinstance(exit_.__context__, BrokenPipeError)):
            quit_quietly()
        raise
    except (Exception, KeyboardInterrupt) as error:  # click.Abort included
        fail_with(error)
    return result if isinstance(result, int) else EXIT_OK


def debug_enabled() -> bool:
    """Whether ``--debug`` was given."""
    return bool(_state["debug"])
