"""``miio bridge``: the inventory's devices on an MQTT broker (docs/bridge.md)."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import click

from pymiio.cli.common import Seconds, load_inventory
from pymiio.cli.errors import debug_enabled, fail, run_guarded


@click.command()
@click.option("--broker", required=True, metavar="URL",
              help="mqtt://[user:password@]host[:port] or mqtts://… (TLS).")
@click.option("--base-topic", default="pymiio", show_default=True,
              help="Topic prefix; several bridges on one broker each use their own.")
@click.option("--discovery-prefix", default="homeassistant", show_default=True,
              help="Home Assistant's discovery prefix.")
@click.option("--interval", type=Seconds(1, 3600), default=10.0, show_default=True,
              help="Seconds between polls of each device (spread over the interval).")
@click.option("--offline-after", type=click.IntRange(1, 100), default=2, show_default=True,
              help="Missed polls before a device is reported offline.")
@click.option("--device", "names", multiple=True, help="Serve only this device (repeatable).")
@click.option("--username", help="Broker user (instead of the URL's).")
@click.option("--password-file", type=click.Path(path_type=Path),
              help="File holding the broker password (instead of the URL's).")
@click.option("--cafile", type=click.Path(path_type=Path, dir_okay=False),
              help="CA certificates for mqtts:// (default: the system's).")
def bridge(broker: str, base_topic: str, discovery_prefix: str, interval: float,
           offline_after: int, names: tuple[str, ...], username: str | None,
           password_file: Path | None, cafile: Path | None) -> None:
    """Serve the inventory's devices on an MQTT broker, with Home Assistant discovery, until
    SIGTERM or Ctrl-C (then the bridge publishes its offline state and exits 0)."""
    from pymiio.bridge.core import Bridge, Settings
    from pymiio.bridge.options import check_topic, parse_broker, read_password
    from pymiio.knowledge.lookup import describe

    def run() -> None:
        address = parse_broker(broker)
        if username:
            address.username = username
        if password_file is not None:
            address.password = read_password(password_file)
        entries = list(load_inventory().entries.values())
        if names:
            missing = sorted(set(names) - {e.name for e in entries})
            if missing:
                fail(f"no device named {', '.join(missing)} in the inventory")
            entries = [e for e in entries if e.name in names]
        entries = [e for e in entries if e.host and e.token]
        if not entries:
            fail("no device to serve: add some with `miio devices add` or "
                 "`miio devices import`")
        settings = Settings(address, check_topic(base_topic, "--base-topic"),
                            check_topic(discovery_prefix, "--discovery-prefix"), interval,
                            offline_after, str(cafile) if cafile else None, describe)
        asyncio.run(_serve(Bridge(settings, entries), broker))

    run_guarded(run, debug_enabled())


async def _serve(served: object, broker: str) -> None:
    from pymiio.bridge.core import Bridge

    assert isinstance(served, Bridge)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    _log_warnings()
    sys.stderr.write(f"bridge: serving {len(served.devices)} device(s) on "
                     f"{served.settings.broker.host}:{served.settings.broker.port} under "
                     f"{served.settings.base}/\n")
    await served.run(stop)
    sys.stderr.write("bridge: stopped\n")


def _log_warnings() -> None:
    """Connection trouble as one line each on stderr (the bridge runs unattended)."""
    import logging

    logger = logging.getLogger("pymiio.bridge")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("bridge: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)
