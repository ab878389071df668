"""JSON-RPC as miIO devices speak it: request encoding and a tolerant reply decoder.

Firmware sends trailing NULs and a handful of known invalid JSON forms; the decoder repairs
those and otherwise raises PayloadError carrying the raw text, so a caller never sees a bare
``json`` traceback and never loses what the device said.
"""

from __future__ import annotations

import json
import json.encoder
import re
from collections.abc import Callable
from typing import Any, Final

from pymiio.errors import DeviceError, PayloadError
from pymiio.protocol.token import mask_tokens


def _compact_encoder() -> Callable[[Any], str]:
    """Compact JSON (no spaces, UTF-8 text, no NaN), with the C encoder made once.

    ``JSONEncoder.encode`` builds its C encoder again on every call, which costs more than
    encoding a small command. Built once without circular-reference markers, a cycle ends in
    RecursionError instead of ValueError; :func:`encode_json` turns both into PayloadError."""
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    make = getattr(json.encoder, "c_make_encoder", None)  # not in the type stubs
    if make is None:  # pragma: no cover - an interpreter without the C accelerator
        return encoder.encode
    chunks = make(None, encoder.default, json.encoder.encode_basestring, None, ":", ",",
                  False, False, False)

    def dumps(obj: Any) -> str:
        return "".join(chunks(obj, 0))

    return dumps


_dumps: Final = _compact_encoder()
_loads: Final = json.JSONDecoder().decode  # on str: json.loads(bytes) first guesses the
# encoding (UTF-16/32 too), which costs more than decoding a small reply; miIO sends UTF-8
_lenient_loads: Final = json.JSONDecoder(strict=False).decode  # control characters in strings

# Error codes seen from devices, with what they mean to a user.
ERROR_MEANINGS: Final[dict[int, str]] = {
    -9999: "no acknowledgement: unsupported method, too many properties or a reused request id",
    -30001: "the device could not parse the request",
    -5001: "invalid argument",
    -5005: "invalid parameters",
    -10000: "method not supported",
    -32600: "malformed request",
    -32601: "unknown method",
    -4001: "property not readable",
    -4002: "property not writable",
    -4003: "property, action or service does not exist",
    -4004: "internal error in the device",
    -4005: "value error",
    -4006: "action in-parameter error",
    -4007: "did error",
    -704040002: "service not found",
    -704040003: "property not found",
    -5000: "the device failed to run the command",
    -5002: "the device is busy",
    -5003: "the device is offline or not ready",
}

# Device errors worth one retry with a fresh request id.
RETRYABLE_CODES: Final = frozenset({-9999, -30001})

_TRAILING_JUNK: Final = bytes(range(0, 32)) + b" \x7f"
# A JSON string literal (an unterminated one runs to the end): repairs act only between them,
# so a device's "my,,wifi" or "v,007" is never rewritten.
_STRING: Final = re.compile(r'"(?:[^"\\]|\\.)*"?', re.S)
_QUIRKS: Final[tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...]] = (
    (re.compile(r"\[\s*,\s*\]"), "[]"),                       # [,]
    (re.compile(r",\s*,"), ","),                              # ,,"otu_stat"
    (re.compile(r"(?<=[:\[,])(\s*-?)0+(\d)"), r"\g<1>\g<2>"),  # "value":00 -> 0
    (re.compile(r":\s*(?=[,}])"), ":null"),                   # "result":,
    (re.compile(r"[\x00-\x1f]"), ""),                         # stray control characters
)


def encode_request(request_id: int, method: str, params: Any = None) -> bytes:
    """``{"id":..,"method":..,"params":..}`` as compact UTF-8 JSON."""
    return _dumps({"id": request_id, "method": method,
                   "params": [] if params is None else params}).encode()


def encode_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the form every payload takes on the wire.

    A value JSON cannot carry (a set, NaN, a cycle, nesting too deep) is a PayloadError.
    """
    try:
        return _dumps(obj).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise PayloadError(f"the command cannot be sent as JSON: {exc}") from None


def decode_reply(payload: bytes) -> dict[str, Any]:
    """Decode a device's JSON object, repairing known firmware quirks.

    Raises PayloadError with the raw text when the payload is not a JSON object even after repair.
    """
    body = payload.rstrip(_TRAILING_JUNK)
    try:
        obj = _loads(body.decode())
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        obj = _repair(body)
    if not isinstance(obj, dict):
        raise PayloadError(f"expected a JSON object, got {_preview(body)}", body)
    return obj


def outside_strings(text: str, fix: Callable[[str], str]) -> str:
    """``text`` with ``fix`` applied to everything but its JSON string literals."""
    parts: list[str] = []
    last = 0
    for literal in _STRING.finditer(text):
        parts.append(fix(text[last:literal.start()]))
        parts.append(literal.group())
        last = literal.end()
    parts.append(fix(text[last:]))
    return "".join(parts)


def _repair(body: bytes) -> Any:
    text = body.decode("utf-8-sig", "replace")  # a byte-order mark is not an error
    try:
        return _lenient_loads(outside_strings(text, _repair_outside_strings))
    except (ValueError, RecursionError):
        raise PayloadError(f"payload is not valid JSON: {_preview(text)}", text) from None


def _repair_outside_strings(fragment: str) -> str:
    for pattern, replacement in _QUIRKS:
        fragment = pattern.sub(replacement, fragment)
    return fragment


def code_text(code: Any) -> str:
    """A device error code with what it means: ``-4001 (property not readable)``."""
    meaning = ERROR_MEANINGS.get(code) if type(code) is int else None
    return f"{code} ({meaning})" if meaning else str(code)


def result_of(reply: dict[str, Any]) -> Any:
    """The ``result`` of a reply; an ``error`` member raises DeviceError."""
    if "error" in reply:
        raise device_error(reply)
    if "result" not in reply:
        raise PayloadError(f"reply has neither result nor error: {_preview(reply)}",
                           json.dumps(reply, default=str))
    return reply["result"]


def device_error(reply: dict[str, Any]) -> DeviceError:
    """Turn a reply's error member into a DeviceError, whatever shape the firmware gave it."""
    error = reply.get("error")
    code, message = -1, ""
    if isinstance(error, dict):
        raw_code = error.get("code", -1)
        code = raw_code if isinstance(raw_code, int) else _int_or(raw_code, -1)
        message = str(error.get("message", ""))
    elif error is not None:
        message = str(error)
    return DeviceError(code, message, ERROR_MEANINGS.get(code), reply)


def error_code(reply: dict[str, Any]) -> int | None:
    """The error code of a reply, or None for a successful one."""
    error = reply.get("error")
    if error is None:
        return None
    return device_error(reply).code


def _int_or(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _preview(value: Any, limit: int = 120) -> str:
    """A short quoted excerpt for error messages; tokens in it are masked."""
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
    else:
        try:
            text = str(value)
        except RecursionError:
            text = "<too deeply nested>"
    return repr(mask_tokens(text if len(text) <= limit else text[:limit] + "…"))
