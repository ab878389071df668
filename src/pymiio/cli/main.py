"""``miio``: the modern command line. Subcommands load on demand so start-up stays fast."""

from __future__ import annotations

import importlib
import sys

import click

from pymiio import __version__
from pymiio.cli.debug_log import setup_debug_logging
from pymiio.cli.errors import run_cli, set_debug

# name -> "module:attribute"; a command's module is imported only when it runs (or for --help).
COMMANDS = {
    "discover": "pymiio.cli.cmd_discover:discover",
    "info": "pymiio.cli.cmd_device:info",
    "send": "pymiio.cli.cmd_device:send",
    "send-raw": "pymiio.cli.cmd_device:send_raw",
    "miot": "pymiio.cli.cmd_device:miot",
    "provision": "pymiio.cli.cmd_device:provision",
    "decode": "pymiio.cli.cmd_decode:decode",
    "devices": "pymiio.cli.cmd_devices:devices",
    "simulate": "pymiio.cli.cmd_simulate:simulate",
    "tokens": "pymiio.cli.cmd_tokens:tokens",
    "status": "pymiio.cli.cmd_named:status",
    "get": "pymiio.cli.cmd_named:get_values",
    "set": "pymiio.cli.cmd_named:set_value",
    "action": "pymiio.cli.cmd_named:action",
    "watch": "pymiio.cli.cmd_named:watch",
    "spec": "pymiio.cli.cmd_spec:spec",
    "bridge": "pymiio.cli.cmd_bridge:bridge",
}

SUMMARIES = {
    "discover": "Find devices: broadcast, one address, an address range or mDNS.",
    "info": "Show a device's miIO.info.",
    "send": "Call a method on a device and print its result.",
    "send-raw": "Send a JSON command as is (its id kept) and print the whole reply.",
    "miot": "MIoT properties and actions (get, set, action).",
    "provision": "Connect an unprovisioned device to Wi-Fi and keep its token.",
    "decode": "Decode a captured packet (hex) or a whole pcap/pcapng file.",
    "devices": "Named devices and their tokens (add, list, remove).",
    "simulate": "Run simulated miIO devices on loopback.",
    "tokens": "Recover tokens from Mi Home backups, databases and cache files.",
    "status": "Every readable property of a device, by name.",
    "get": "Read properties by name.",
    "set": "Write a property by name (checked before it is sent).",
    "action": "Run a named action.",
    "watch": "Print a device's state, then each change (pushed or polled).",
    "spec": "MIoT specs: fetch, import, show.",
    "bridge": "Serve the devices on an MQTT broker, with Home Assistant discovery.",
}


class SuggestingGroup(click.Group):
    """A group that answers a mistyped subcommand with the closest ones (``miio stauts``)."""

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if (name and not name.startswith("-") and not ctx.resilient_parsing  # completion
                and self.get_command(ctx, name) is None):
            from pymiio.knowledge.model import did_you_mean

            hint = did_you_mean(name, self.list_commands(ctx))
            ctx.fail(f"No such command {name!r}{hint}" if hint else f"No such command {name!r}.")
        return super().resolve_command(ctx, args)


class LazyGroup(SuggestingGroup):
    """A group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing from the static summaries keeps `miio --help` from importing every command.
        with formatter.section("Commands"):
            formatter.write_dl([(name, SUMMARIES[name]) for name in sorted(COMMANDS)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="miio")
@click.option("--debug", is_flag=True,
              help="Log every packet and the decrypted JSON (tokens masked), show tracebacks; "
                   "accepted after the subcommand too.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """miio: talk to Xiaomi miIO devices on the local network."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug:
        set_debug(True)
        setup_debug_logging()


def main(argv: list[str] | None = None) -> int:
    return run_cli(cli, argv, "miio")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
