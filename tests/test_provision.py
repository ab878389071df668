"""Provisioning through the library (lan/provisioning.py): the revealed token is kept before
miIO.config_router goes out, on both faces, against the simulator over real sockets."""

from __future__ import annotations

import pytest

from pymiio import AsyncDevice, Device, RetryPolicy, Token
from pymiio.errors import TokenError
from pymiio.lan.provisioning import NotAcknowledged, Revealed, provision, provision_async
from pymiio.simulator import Simulator, make_devices

from .addresses import NET
from .conftest import OTHER_TOKEN, TOKEN
from .helpers import simulator_thread

FAST = RetryPolicy(timeout=5.0, retries=30, first_attempt=0.05, min_attempt=0.03)
SHORT = RetryPolicy(timeout=1.0, retries=5, first_attempt=0.05, min_attempt=0.03)


async def test_the_token_is_kept_before_the_device_is_told_to_join() -> None:
    [fresh] = make_devices(f"{NET}.140.1", token=TOKEN, unprovisioned=True)
    seen: list[tuple[Revealed, bool]] = []

    def keep(found: Revealed) -> str:
        seen.append((found, fresh.provisioned))
        return "kept"

    async with Simulator([fresh]):
        async with AsyncDevice(fresh.host, None, policy=FAST) as device:
            assert await provision_async(device, "home", "pw", 7, keep=keep) == "kept"
    [(found, provisioned_then)] = seen
    assert found == Revealed(fresh.host, Token(TOKEN), fresh.device_id, "chuangmi.plug.m1")
    assert provisioned_then is False and fresh.provisioned is True


async def test_a_device_hiding_its_token_is_refused_and_nothing_is_kept() -> None:
    [done] = make_devices(f"{NET}.140.2", token=TOKEN)
    kept: list[Revealed] = []
    async with Simulator([done]):
        async with AsyncDevice(done.host, None, policy=FAST) as device:
            with pytest.raises(TokenError, match="provisioned already"):
                await provision_async(device, "home", "pw", keep=kept.append)
    assert kept == []


def test_a_lost_acknowledgement_still_hands_back_what_was_kept() -> None:
    [fresh] = make_devices(f"{NET}.140.3", token=TOKEN, unprovisioned=True)

    def keep(found: Revealed) -> str:
        # From now on the device hides its token and drops what we sign: as silent as one
        # that took the command and left its access point before its answer arrived.
        fresh.provisioned, fresh.token = True, Token(OTHER_TOKEN)
        return found.token.hex

    with simulator_thread([fresh]), Device(fresh.host, None, policy=SHORT) as device:
        with pytest.raises(NotAcknowledged) as lost:
            provision(device, "home", "pw", keep=keep)
    assert lost.value.kept == TOKEN and "check whether it joined 'home'" in str(lost.value)
