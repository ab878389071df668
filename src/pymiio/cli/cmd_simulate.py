"""``miio simulate``: serve simulated devices until SIGINT/SIGTERM (or ``--duration``)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from pymiio.cli.common import Seconds
from pymiio.cli.errors import debug_enabled, run_guarded
from pymiio.cli.output import say
from pymiio.literal_text import LiteralFormatter
from pymiio.simulator import QUIRKS, Simulator, make_devices
from pymiio.simulator.config import build_faults, load_config
from pymiio.simulator.profiles import Profile, profile_help


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address of the (first) device; must be in 127.0.0.0/8 by default.")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 60000),
              help="Devices on consecutive addresses from --host.")
@click.option("--port", default=54321, show_default=True, type=click.IntRange(1, 65535),
              help="UDP port the devices answer on (real devices: 54321).")
@click.option("--token", help="Token for every device (default: a random one each).")
@click.option("--model", "model", default="plug", show_default=True,
              help=f"A built-in profile: {profile_help()}; or a model of the catalogue, or "
                   "one whose MIoT spec is cached or shipped.")
@click.option("--unprovisioned", is_flag=True,
              help="Reveal the token in hello replies until miIO.config_router.")
@click.option("--spec", "spec_file", type=click.Path(path_type=Path),
              help="Simulate the MIoT device this spec describes (--model names it; default: "
                   "the file's name).")
@click.option("--max-properties", type=click.IntRange(1, 1000),
              help="Refuse get/set_properties with more items (-9999), as strict firmware.")
@click.option("--config", "config", type=click.Path(path_type=Path, dir_okay=False),
              help="Devices (and faults) from a TOML file instead of the options above.")
@click.option("--allow-non-loopback", is_flag=True,
              help="Allow addresses outside 127.0.0.0/8 (for test network namespaces).")
@click.option("--no-broadcast", is_flag=True, help="Do not answer broadcast hellos.")
@click.option("--mdns", is_flag=True, help="Announce the devices as _miio._udp.local.")
@click.option("--seed", type=int, help="Seed for random tokens and faults (repeatable runs).")
@click.option("--drop", type=click.FloatRange(0, 1), help="Chance to lose each datagram.")
@click.option("--delay", type=Seconds(0, 3600), help="Seconds before every reply (default: 0).")
@click.option("--duplicate", type=click.FloatRange(0, 1), help="Chance to send a reply twice.")
@click.option("--late", type=click.FloatRange(0, 1), help="Chance to hold a reply back.")
@click.option("--late-after", type=Seconds(0, 3600),
              help="Seconds a late reply is held (default: 1.5).")
@click.option("--corrupt", type=click.FloatRange(0, 1), help="Chance to break a reply's checksum.")
@click.option("--quirk", type=click.Choice(["cycle", *QUIRKS]),
              help="Reply with a firmware JSON quirk.")
@click.option("--duration", type=Seconds(0, 10**7),
              help="Stop after this many seconds (default: at SIGINT or SIGTERM).")
@click.option("--json", "as_json", is_flag=True, help="Print the ready line as JSON.")
def simulate(host: str, count: int, port: int, token: str | None,
             model: str, spec_file: Path | None, max_properties: int | None,
             unprovisioned: bool, config: Path | None, allow_non_loopback: bool,
             no_broadcast: bool, mdns: bool, seed: int | None, as_json: bool,
             duration: float | None, **fault_options: Any) -> None:
    """Run simulated miIO devices until interrupted.

    Example: miio simulate --host 127.0.0.5 --token 2b00042f7481c7b056c4b410d28f33cf
    """
    debug = debug_enabled()

    def start() -> None:
        faults_settings = {k: v for k, v in fault_options.items() if v is not None}
        if config is not None:
            devices, file_faults = load_config(config, allow_non_loopback=allow_non_loopback)
            faults_settings = {**file_faults, **faults_settings}
        else:
            profile = simulated_profile(model, spec_file)
            if max_properties is not None:
                profile.max_props = max_properties
            devices = make_devices(host, count, token=token, profile=profile,
                                   unprovisioned=unprovisioned, seed=seed)
        if seed is not None:
            faults_settings.setdefault("seed", seed)
        simulator = Simulator(devices, port=port, faults=build_faults(faults_settings),
                              broadcast=not no_broadcast, allow_non_loopback=allow_non_loopback)
        asyncio.run(_serve(simulator, as_json, mdns, duration))

    run_guarded(start, debug)


def simulated_profile(model: str, spec_file: Path | None) -> Profile:
    """A built-in profile, a spec from ``--spec``, or the cached spec of ``model``."""
    from pymiio.knowledge.spec_store import load_spec_file
    from pymiio.simulator.profiles import BUILTIN, MODEL_INDEX, profile_for, spec_profile

    if spec_file is not None:
        name = MODEL_INDEX.get(model, model) if model != "plug" else spec_file.stem
        spec = load_spec_file(spec_file, BUILTIN[name].model if name in BUILTIN else name)
        for note in spec.notes:
            say(f"note: {note}", err=True)
        return spec_profile(spec, profile_for(name) if name in BUILTIN else None)
    return profile_for(model)


async def _serve(simulator: Simulator, as_json: bool, mdns: bool,
                 duration: float | None) -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LiteralFormatter("%(message)s"))
    logging.getLogger("pymiio.simulator").addHandler(handler)
    logging.getLogger("pymiio.simulator").setLevel(logging.INFO)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with simulator:
        announcer = None
        if mdns:
            from pymiio.simulator.mdns import announce

            announcer = await announce(simulator)
        _ready(simulator, as_json)
        try:
            await asyncio.wait_for(stop.wait(), duration)
        except TimeoutError:
            pass
        finally:
            if announcer is not None:
                await announcer.close()
    sys.stderr.write("simulator stopped\n")


def _ready(simulator: Simulator, as_json: bool) -> None:
    devices = simulator.describe()
    if as_json:
        line = json.dumps({"ready": True, "port": simulator.port, "devices": devices})
    else:
        first, last = devices[0]["host"], devices[-1]["host"]
        where = first if len(devices) == 1 else f"{first} … {last}"
        models = sorted({d["model"] for d in devices})
        tokens = sorted({d["token"] for d in devices})
        token_text = f" token {tokens[0]}" if len(tokens) == 1 else " (random tokens: use --json)"
        line = (f"ready: {len(devices)} simulated device(s) ({', '.join(models)}) on {where} "
                f"port {simulator.port}{token_text}")
    say(line)
