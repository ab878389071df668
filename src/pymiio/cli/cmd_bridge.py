"""``miio bridge``: the inventory's devices on an MQTT broker (docs/bridge.md)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from pymiio.cli.common import Seconds, complete_device, load_inventory
from pymiio.cli.errors import debug_enabled, fail, run_guarded

if TYPE_CHECKING:
    from pymiio.bridge.config import ConfigFile
    from pymiio.bridge.service import Plan, Service
    from pymiio.bridge.web import WebSettings

WEB_DEFAULT = "127.0.0.1:8099"
NOT_IN_FILE = {"config", "check", "help"}  # options that make no sense as config keys


def _option_keys(command: click.Command) -> dict[str, click.Parameter]:
    """Config-file keys (option names without dashes) -> their parameters."""
    keys: dict[str, click.Parameter] = {}
    for param in command.params:
        for opt in param.opts:
            key = opt.lstrip("-")
            if opt.startswith("--") and key not in NOT_IN_FILE:
                keys[key] = param
    return keys


def _file_values(ctx: click.Context, config: ConfigFile) -> dict[str, Any]:
    """The file's options converted and checked like the command line's, by parameter name."""
    from pymiio.errors import UsageError

    assert ctx.command is not None
    keys = _option_keys(ctx.command)
    values: dict[str, Any] = {}
    for key, value in config.options.items():
        param = keys[key]
        if getattr(param, "multiple", False) and isinstance(value, str):
            value = [value]
        try:
            values[str(param.name)] = param.type_cast_value(ctx, value)
        except click.BadParameter as exc:
            raise UsageError(f"{config.path}: {key}: {exc.message}") from None
    return values


def _read_file(ctx: click.Context, path: Path) -> ConfigFile:
    from pymiio.bridge.config import read_config

    assert ctx.command is not None
    return read_config(path, set(_option_keys(ctx.command)))


def _load_config(ctx: click.Context, param: click.Parameter, path: Path | None) -> Path | None:
    """``--config``, read before every other option: its values become their defaults, so
    what the command line gives wins."""
    if path is not None:
        def read() -> None:
            config = _read_file(ctx, path)
            ctx.default_map = {**(ctx.default_map or {}), **_file_values(ctx, config)}
            ctx.meta["pymiio.bridge.config"] = config

        run_guarded(read, debug_enabled())
    return path


@click.command()
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), is_eager=True,
              callback=_load_config, expose_value=True,
              help="A TOML file of these options (keys named like them: interval = 30, "
                   "base-topic = \"home\") and [devices.NAME] tables; the command line wins. "
                   "SIGHUP reads it again.")
@click.option("--broker", metavar="URL",
              help="mqtt://[user:password@]host[:port] or mqtts://… (TLS).")
@click.option("--base-topic", default="pymiio", show_default=True,
              help="Topic prefix; several bridges on one broker each use their own.")
@click.option("--discovery-prefix", default="homeassistant", show_default=True,
              help="Home Assistant's discovery prefix.")
@click.option("--interval", type=Seconds(1, 3600), default=10.0, show_default=True,
              help="Seconds between polls of each device (spread over the interval).")
@click.option("--offline-after", type=click.IntRange(1, 100), default=2, show_default=True,
              help="Missed polls before a device is reported offline.")
@click.option("--device", "names", multiple=True, shell_complete=complete_device,
              help="Serve only this device (repeatable).")
@click.option("--username", help="Broker user (instead of the URL's).")
@click.option("--password-file", type=click.Path(path_type=Path),
              help="File holding the broker password (instead of the URL's).")
@click.option("--cafile", type=click.Path(path_type=Path, dir_okay=False),
              help="CA certificates for mqtts:// (default: the system's).")
@click.option("--web", metavar="[HOST:]PORT", is_flag=False, flag_value=WEB_DEFAULT,
              help=f"Serve the dashboard (alone: {WEB_DEFAULT}). Anything but loopback needs "
                   "--web-token-file.")
@click.option("--web-token-file", type=click.Path(path_type=Path, dir_okay=False),
              help="File holding the dashboard's access token (at least 16 characters).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Log lines as text, or one JSON object each.")
@click.option("--check", is_flag=True,
              help="Check the config, the devices and the broker connection, then exit "
                   "(0: fine, 2: bad config, 1: broker refused, 3: broker unreachable).")
@click.pass_context
def bridge(ctx: click.Context, config: Path | None, broker: str | None, base_topic: str,
           discovery_prefix: str, interval: float, offline_after: int,
           names: tuple[str, ...], username: str | None, password_file: Path | None,
           cafile: Path | None, web: str | None, web_token_file: Path | None,
           log_format: str, check: bool) -> None:
    """Serve the inventory's devices on an MQTT broker, with Home Assistant discovery, until
    SIGTERM or Ctrl-C (then the bridge publishes its offline state and exits 0). SIGHUP and
    changes to the inventory are taken in while it runs."""
    from pymiio.bridge.config import setup_logging
    from pymiio.bridge.core import Bridge, Settings
    from pymiio.bridge.options import check_topic, parse_broker, read_password
    from pymiio.bridge.service import Plan, Service, wanted
    from pymiio.knowledge.lookup import describe

    file: ConfigFile | None = ctx.meta.get("pymiio.bridge.config")

    def run() -> None:
        if broker is None:
            fail("no broker: give --broker URL (or broker = \"mqtt://…\" in the config file)")
        address = parse_broker(broker)
        if username:
            address.username = username
        if password_file is not None:
            address.password = read_password(password_file)
        web_settings = _web_settings(web, web_token_file)
        plan = Plan(names or None, interval, offline_after, file.intervals() if file else {})
        inventory = load_inventory()
        missing = sorted(set(names) - set(inventory.entries))
        if missing:
            from pymiio.knowledge.model import did_you_mean

            hints = "".join(did_you_mean(name, inventory.entries) for name in missing[:1])
            fail(f"no device named {', '.join(missing)} in the inventory{hints}")
        entries = list(wanted(inventory, plan).values())
        if not entries and web_settings is None:
            fail("no device to serve: add some with `miio devices add` or "
                 "`miio devices import` (or serve the dashboard with --web and add them there)")
        settings = Settings(address, check_topic(base_topic, "--base-topic"),
                            check_topic(discovery_prefix, "--discovery-prefix"), interval,
                            offline_after, str(cafile) if cafile else None, describe)
        if check:
            _check(settings, len(entries), file)
            return
        setup_logging(log_format)
        service = Service(Bridge(settings, entries), plan, inventory.path,
                          _rereader(ctx, plan, file) if file is not None else None)
        asyncio.run(_serve(service, web_settings))

    run_guarded(run, debug_enabled())


def _web_settings(web: str | None, token_file: Path | None) -> WebSettings | None:
    if web is None:
        return None
    from pymiio.bridge.web import web_settings

    return web_settings(web, token_file)


def _check(settings: Any, count: int, file: ConfigFile | None) -> None:
    from pymiio.bridge.service import check_broker

    asyncio.run(check_broker(settings))
    where = f"{settings.broker.host}:{settings.broker.port}"
    click.echo(f"ok: {'config ' + str(file.path) + ', ' if file else ''}{count} device(s) "
               f"to serve, the broker {where} accepts the bridge")


def _rereader(ctx: click.Context, first: Plan, file: ConfigFile) -> Any:
    """What SIGHUP does: read the config file again; what the command line gave still wins.
    Options that need a restart (broker, topics, web) are reported, not applied."""
    from pymiio.bridge.service import Plan

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE

    before = _file_values(ctx, file)

    def reread() -> Plan:
        config = _read_file(ctx, file.path)
        values = _file_values(ctx, config)
        assert ctx.command is not None
        defaults = {str(p.name): _default(ctx, p) for p in ctx.command.params}

        def pick(name: str, now: Any) -> Any:
            return now if given(name) else values.get(name, defaults[name])

        for name in sorted(set(values) | set(before)):
            if name not in ("interval", "offline_after", "names") and not given(name) and \
                    values.get(name) != before.get(name):
                import logging

                logging.getLogger("pymiio.bridge").warning(
                    "reload: %s changed in %s; it takes effect at the next start",
                    name.replace("_", "-"), file.path)
        return Plan(tuple(pick("names", first.names or ())) or None,
                    float(pick("interval", first.interval)),
                    int(pick("offline_after", first.offline_after)), config.intervals())

    return reread


def _default(ctx: click.Context, param: click.Parameter) -> Any:
    """An option's own default (not the config file's), () for a repeatable one."""
    value = param.get_default(ctx)
    if getattr(param, "multiple", False) and not isinstance(value, list | tuple):
        return ()
    return value


async def _serve(service: Service, web: WebSettings | None) -> None:
    import logging

    log = logging.getLogger("pymiio.bridge")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, service.request_reload)
    settings = service.bridge.settings
    log.info("serving %d device(s) on %s:%d under %s/", len(service.bridge.devices),
             settings.broker.host, settings.broker.port, settings.base)
    dashboard = None
    if web is not None:
        from pymiio.bridge.web import Dashboard

        dashboard = Dashboard(service, web)
        await dashboard.start()
    try:
        await service.run(stop)
    finally:
        if dashboard is not None:
            await dashboard.stop()
    log.info("stopped")
