"""The library's log lines on stderr for both CLIs: its warnings always, as ``warning: …`` lines
(set up by the runner), and every packet and decrypted JSON under ``--debug`` (set up by the
command); both undone by the runner."""

from __future__ import annotations

import sys
from typing import Any


def _stderr_handler() -> Any:
    import logging  # --help is answered without it (fast.py)

    class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to whatever sys.stderr is now (tests swap it between invocations)."""

        @property
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

    return _Stderr()


def setup_warning_logging() -> None:
    """The library's warnings (a device pushing what its description lacks, request ids that
    cannot persist) as the CLI's own warning lines: ``warning: <one line>``, outside text in it
    shown literally, no traceback (``--debug`` shows those)."""
    import logging

    from pymiio.literal_text import visible

    class _OneLine(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return "warning: " + visible(" ".join(record.getMessage().split()))

    logger = logging.getLogger("pymiio")
    if not any(h.get_name() == "pymiio-warnings" for h in logger.handlers):
        handler = _stderr_handler()
        handler.set_name("pymiio-warnings")
        handler.setLevel(logging.WARNING)
        handler.setFormatter(_OneLine())
        logger.addHandler(handler)


def setup_debug_logging() -> None:
    """Debug lines on stderr: every packet and the decrypted JSON, tokens masked. They include
    the warnings (with their tracebacks), so the warning lines step aside."""
    import logging

    logger = logging.getLogger("pymiio")
    for handler in [h for h in logger.handlers if h.get_name() == "pymiio-warnings"]:
        logger.removeHandler(handler)
    if not any(h.get_name() == "pymiio-debug" for h in logger.handlers):
        handler = _stderr_handler()
        handler.set_name("pymiio-debug")
        from pymiio.literal_text import LiteralFormatter

        handler.setFormatter(LiteralFormatter("debug: %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def reset_debug_logging() -> None:
    """Undo :func:`setup_debug_logging` and :func:`setup_warning_logging` (one process may run
    several commands: tests)."""
    logging = sys.modules.get("logging")
    if logging is None:
        return
    logger = logging.getLogger("pymiio")
    for handler in [h for h in logger.handlers
                    if h.get_name() in ("pymiio-debug", "pymiio-warnings")]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
