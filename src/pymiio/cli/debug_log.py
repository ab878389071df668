"""``--debug``'s log lines on stderr for both CLIs: set up by the command, undone by the runner."""

from __future__ import annotations

import sys
from typing import Any


def setup_debug_logging() -> None:
    """Debug lines on stderr: every packet and the decrypted JSON, tokens masked."""
    import logging  # only --debug needs it; keeping it out of start-up keeps --help fast

    class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
        """Writes to whatever sys.stderr is now (tests swap it between invocations)."""

        @property
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, value: Any) -> None:
            pass

    logger = logging.getLogger("pymiio")
    if not any(h.get_name() == "pymiio-debug" for h in logger.handlers):
        handler = _Stderr()
        handler.set_name("pymiio-debug")
        from pymiio.literal_text import LiteralFormatter

        handler.setFormatter(LiteralFormatter("debug: %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)


def reset_debug_logging() -> None:
    """Undo :func:`setup_debug_logging` (one process may run several commands: tests)."""
    logging = sys.modules.get("logging")
    if logging is None:
        return
    logger = logging.getLogger("pymiio")
    for handler in [h for h in logger.handlers if h.get_name() == "pymiio-debug"]:
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
