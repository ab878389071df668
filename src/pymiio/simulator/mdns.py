"""Announce simulated devices over mDNS as real ones do (``_miio._udp.local.``), for tests."""

from __future__ import annotations

import socket

from pymiio.simulator.server import Simulator

SERVICE = "_miio._udp.local."


def service_name(model: str, device_id: int) -> str:
    """``zhimi.airpurifier.m1``, 12345678 -> ``zhimi-airpurifier-m1_miio12345678._miio._udp...``"""
    return f"{model.replace('.', '-')}_miio{device_id}.{SERVICE}"


class Announcer:
    """Registered services; ``close`` unregisters them."""

    def __init__(self, zeroconf: object, infos: list[object]) -> None:
        self._zeroconf = zeroconf
        self._infos = infos

    async def close(self) -> None:
        from zeroconf.asyncio import AsyncZeroconf

        assert isinstance(self._zeroconf, AsyncZeroconf)
        await self._zeroconf.async_unregister_all_services()
        await self._zeroconf.async_close()


async def announce(simulator: Simulator) -> Announcer:
    """Register every device, on the devices' own interfaces only (never every interface of
    the machine: a simulator must not advertise fake devices on a real network)."""
    from zeroconf import ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

    azc = AsyncZeroconf(interfaces=sorted({device.host for device in simulator.devices}))
    infos: list[object] = []
    for device in simulator.devices:
        info = ServiceInfo(
            SERVICE, service_name(device.profile.model, device.device_id),
            addresses=[socket.inet_aton(device.host)], port=simulator.port,
            properties={"epoch": "1"}, server=f"miio{device.device_id}.local.")
        await azc.async_register_service(info)
        infos.append(info)
    return Announcer(azc, infos)
