"""Which description a device gets (knowledge/lookup.py), the one rule the CLI and the bridge
share: a spec file, else the given model, else the model the device reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pymiio.errors import UsageError
from pymiio.knowledge.lookup import describe, describe_device, model_of

SHARED = Path(__file__).resolve().parents[2] / "shared" / "miot-specs"


def _never() -> dict[str, Any]:
    raise AssertionError("the device was asked although a model was known")


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/miot-specs is not here")
def test_a_spec_file_wins_and_the_device_is_not_asked() -> None:
    spec = SHARED / "zhimi.airpurifier.mb3.json"
    described = describe_device(None, _never, spec_file=spec)
    assert described.model == "zhimi.airpurifier.mb3" and described.kind == "miot"
    named = describe_device("my.own.name", _never, spec_file=spec)
    assert named.model == "my.own.name"


def test_a_given_model_comes_before_the_reported_one() -> None:
    described = describe_device("roborock.vacuum.s5", _never)
    assert described == describe("roborock.vacuum.s5") and described.kind == "classic"
    asked = describe_device(None, lambda: {"model": "philips.light.bulb"})
    assert asked.model == "philips.light.bulb"
    seen: list[str] = []
    describe_device(None, lambda: {"model": "x.y.z"}, by_model=lambda m: seen.append(m) or asked)
    assert seen == ["x.y.z"]


@pytest.mark.parametrize("info", [{}, {"model": None}, {"model": 7}])
def test_no_model_anywhere_is_a_usage_error(info: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="does not report its model; give --model"):
        describe_device(None, lambda: info)


def test_which_model_a_device_is_described_by() -> None:
    assert model_of("given.model.x", _never) == "given.model.x"
    assert model_of(None, lambda: {"model": "reported.model.y"}) == "reported.model.y"
    with pytest.raises(UsageError, match="give --model"):
        model_of(None, lambda: {"model": ["not", "text"]})
