"""Building calls and reading their outcomes: the part of the device API that is pure.

``AsyncDevice`` and ``Device`` differ only in how they wait; both build their calls and
interpret outcomes through these functions so the two faces cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from pymiio.errors import MiioError, PayloadError
from pymiio.protocol.message import result_of
from pymiio.protocol.session import Call, Hello

MIOT_BATCH = 15


def command(method: str, params: Any = None) -> Call:
    """A call whose id the session assigns (fresh on every attempt)."""
    return Call({"method": method, "params": [] if params is None else params})


def raw(message: dict[str, Any] | str | bytes) -> Call:
    """A call that sends the caller's JSON as is, keeping its id (one is added if missing)."""
    if isinstance(message, str | bytes):
        text = message
        try:
            message = json.loads(text)
        except ValueError as exc:
            raise PayloadError(f"the command is not valid JSON: {exc}", text) from None
        if not isinstance(message, dict):
            raise PayloadError('a command is a JSON object with a "method" string',
                               json.dumps(message, default=str))
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        raise PayloadError('a command is a JSON object with a "method" string',
                           json.dumps(message, default=str))
    if "id" in message:
        return Call(dict(message), fixed_id=True)
    return Call(dict(message))


def handshake() -> Call:
    return Call()


def reply_of(call: Call) -> dict[str, Any]:
    """The whole reply of a finished call, or its error raised."""
    _raise(call)
    assert call.reply is not None
    return call.reply


def result(call: Call) -> Any:
    """The ``result`` member of a finished call; a device error raises DeviceError."""
    return result_of(reply_of(call))


def hello_of(call: Call) -> Hello:
    _raise(call)
    assert call.hello is not None
    return call.hello


def info_of(value: Any) -> dict[str, Any]:
    """``miIO.info``'s result as a mapping, whatever shape the firmware gave it."""
    return value if isinstance(value, dict) else {"result": value}


def miot_items(value: Any, expected: int) -> list[dict[str, Any]]:
    """A ``get_properties``/``set_properties`` result checked for shape: one object per item
    asked, each with an integer ``code``; anything else is a PayloadError, never a TypeError."""
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise PayloadError(f"expected a list of property results, got {_shape(value)}")
    if len(value) != expected:
        raise PayloadError(f"asked for {expected} properties, the device answered {len(value)}")
    for item in value:
        code = item.get("code", 0)
        if type(code) is not int:
            item["code"] = -1 if not isinstance(code, float) or code != code or abs(code) > 2**31 \
                else int(code)
    return value


def _shape(value: Any) -> str:
    return type(value).__name__ if not isinstance(value, list) else \
        f"a list of {', '.join(sorted({type(v).__name__ for v in value})) or 'nothing'}"


def batches(items: Sequence[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    """Split MIoT property requests: devices reject too many properties in one request."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def action_params(did: str, siid: int, aiid: int, args: Sequence[Any] = ()) -> dict[str, Any]:
    return {"did": did, "siid": siid, "aiid": aiid, "in": list(args)}


def _raise(call: Call) -> None:
    if call.error is not None:
        error: MiioError = call.error
        raise error
