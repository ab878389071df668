"""Text from outside shown literally, for every front end (the CLI's output, the bridge's log).

A device's model, a server's error text, a topic on the broker or an event's arguments may hold
control characters: written raw to a terminal or a journal they clear the screen (``\\x1b[2J``),
retitle the terminal (``\\x1b]0;…\\x07``) or reorder what follows (bidi overrides). Here they are
written out (``\\x1b``, ``\\x9b``, ``\\u202e``) instead, and nothing else changes. Pure: no I/O,
no imports beyond the standard library.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# C0 controls, DEL, C1 controls, and the bidirectional overrides and isolates.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_NO_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What JSON may leave raw (it escapes C0 itself) but a terminal obeys.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: Any, keep_newlines: bool = False) -> str:
    """``text`` with every control character written out (``\\x1b``), never executed by the
    terminal; newlines kept only when asked (multi-line output such as pretty JSON)."""
    pattern = _CONTROL_NO_NEWLINE if keep_newlines else _CONTROL
    return pattern.sub(_escape, text if isinstance(text, str) else str(text))


def json_safe(text: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the characters JSON may
    leave raw but a terminal obeys (DEL, C1 controls, bidi overrides) as ``\\u`` escapes: the
    same JSON to a parser, inert on a terminal."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


class LiteralFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose lines show outside text literally (a device's model, the
    decrypted JSON it sent, a topic): the message is one line, its newlines written out too
    (a model holding ``\\n`` cannot forge a log line of its own); a traceback keeps its
    lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return visible(super().formatMessage(record))

    def formatException(self, ei: Any) -> str:
        return visible(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return visible(super().formatStack(stack_info), keep_newlines=True)
