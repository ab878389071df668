"""``miio decode``: one captured packet (hex) or a whole pcap / pcapng file."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from pymiio.capture.decode import (
    DeviceSummary,
    decode_packet,
    iter_capture,
    parse_hex,
    pretty_payload,
    summary_record,
)
from pymiio.cli.common import json_option
from pymiio.cli.errors import EXIT_USAGE, debug_enabled, fail, run_guarded
from pymiio.cli.output import json_text, print_json, print_table, say
from pymiio.literal_text import visible
from pymiio.protocol.token import Token


def _tokens(given: tuple[str, ...]) -> list[Token]:
    """--token values first, then MIIO_TOKEN, then every token in the inventory."""
    import os

    from pymiio.cli.common import load_inventory, warn
    from pymiio.errors import InventoryError

    tokens = [Token(text) for text in given]
    if os.environ.get("MIIO_TOKEN"):
        tokens.append(Token(os.environ["MIIO_TOKEN"]))
    try:
        tokens += load_inventory().tokens()
    except InventoryError as exc:  # decoding does not need the inventory: go on without it
        warn(f"{exc}; decoding without its tokens")
    return list(dict.fromkeys(tokens))


@click.command()
@click.argument("packet", required=False)
@click.option("--token", "tokens", multiple=True, help="Token to try (repeatable).")
@click.option("--pcap", type=click.Path(path_type=Path),
              help="Decode every miIO datagram of a pcap or pcapng file.")
@json_option
def decode(packet: str | None, tokens: tuple[str, ...], pcap: Path | None,
           as_json: bool) -> None:
    """Decode PACKET (hex) or --pcap FILE with the tokens given or known."""
    if (packet is None) == (pcap is None):
        fail("give either a PACKET in hex or --pcap FILE", EXIT_USAGE)

    def run() -> None:
        known = _tokens(tokens)
        if pcap is not None:
            devices: list[DeviceSummary] = []
            records = iter_capture(pcap, known, devices)
            if as_json:
                _stream_json(records, devices)
            else:
                _stream_lines(records, devices)
        else:
            assert packet is not None
            record = decode_packet(parse_hex(packet), known)
            print_json(record) if as_json else show_packet(record)

    run_guarded(run, debug_enabled())


def show_packet(record: dict[str, Any]) -> None:
    rows = [(key, "-" if record[key] is None else record[key]) for key in (
        "kind", "magic", "length", "unknown", "device_id", "device_type", "serial", "stamp",
        "uptime", "checksum")]
    status = {None: "not applicable (hello)", True: f"ok (token {record['token']})",
              False: "does not match any token given: wrong or missing token"}
    rows.append(("checksum check", status[record["checksum_ok"]]))
    if record["revealed_token"]:
        rows.append(("revealed token", record["revealed_token"]))
    print_table(None, ("field", "value"), rows)
    if record["payload"] is not None:
        sys.stdout.write(visible(pretty_payload(record["payload"]), keep_newlines=True) + "\n")
    if record["payload_error"]:
        say(f"warning: {record['payload_error']}", err=True)


def _stream_json(records: Iterator[dict[str, Any]], devices: list[DeviceSummary]) -> None:
    """The JSON list written record by record, so a large capture never sits in memory."""
    write = sys.stdout.write
    write("[\n")
    for record in records:
        write(_compact(record) + ",\n")
    write(_compact(summary_record(devices)) + "\n]\n")


def _compact(record: dict[str, Any]) -> str:
    return json_text(record)


def _stream_lines(records: Iterator[dict[str, Any]], devices: list[DeviceSummary]) -> None:
    """One line per datagram as it is decoded, then the devices as a table."""
    write = sys.stdout.write
    for item in records:
        detail = item.get("note") or ""
        if item.get("payload") is not None:
            detail = json_text(item["payload"])
        elif item.get("checksum_ok") is False:
            detail = "no token fits"
        elif item.get("revealed_token"):
            detail = f"token revealed: {item['revealed_token']}"
        write(visible(f"{item['time']:.6f}  {item.get('source', ''):>21}  "
                      f"{item.get('destination', ''):<21}  {item.get('direction', ''):<11}  "
                      f"{item['kind']:<11}  {detail}") + "\n")
    print_table("devices", ("address", "device id", "packets", "decoded"), [
        (d.ip, d.device_id, d.packets, "yes" if d.decoded else "no") for d in devices])
