"""Strict JSON out: what pymiio writes for other programs (the CLI's ``--json``, the bridge's
MQTT messages) is always valid JSON. Python writes NaN and infinities as ``NaN`` and
``Infinity``, which JSON has not (a device answering ``NaN`` or ``1e999`` would otherwise make
every consumer's parser fail); they become ``null``."""

from __future__ import annotations

import json
import math
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with non-finite floats replaced by None (only copies what it changes)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    return value


def dumps(value: Any) -> str:
    """Compact strict JSON, text kept as it is (``ensure_ascii=False``), other objects as
    their ``str``. The copy without non-finite numbers is made only when one is there."""
    try:
        return json.dumps(value, ensure_ascii=False, default=str, allow_nan=False)
    except ValueError:  # NaN or an infinity somewhere
        return json.dumps(finite(value), ensure_ascii=False, default=str, allow_nan=False)
