"""The ``miio`` and ``miio-cli`` entry points: ``--help`` answered from text, without
importing click or the commands (start-up is what a user feels most often); everything else
goes to the real command line. ``tests/test_startup.py`` checks the text against click's own
rendering, so the two cannot drift.
"""

from __future__ import annotations

import sys

MIIO_HELP = (
    'Usage: miio [OPTIONS] COMMAND [ARGS]...\n'
    '\n'
    '  miio: talk to Xiaomi miIO devices on the local network.\n'
    '\n'
    'Options:\n'
    '  --version   Show the version and exit.\n'
    '  --debug     Log every packet and the decrypted JSON (tokens masked), show\n'
    '              tracebacks; accepted after the subcommand too.\n'
    '  -h, --help  Show this message and exit.\n'
    '\n'
    'Commands:\n'
    '  action     Run a named action.\n'
    '  bridge     Serve the devices on an MQTT broker, with Home Assistant\n'
    '             discovery.\n'
    '  decode     Decode a captured packet (hex) or a whole pcap/pcapng file.\n'
    '  devices    Named devices and their tokens (add, list, remove).\n'
    '  discover   Find devices: broadcast, one address, an address range or mDNS.\n'
    '  get        Read properties by name.\n'
    "  info       Show a device's miIO.info.\n"
    '  miot       MIoT properties and actions (get, set, action).\n'
    '  provision  Connect an unprovisioned device to Wi-Fi and keep its token.\n'
    '  send       Call a method on a device and print its result.\n'
    '  send-raw   Send a JSON command as is (its id kept) and print the whole\n'
    '             reply.\n'
    '  set        Write a property by name (checked before it is sent).\n'
    '  simulate   Run simulated miIO devices on loopback.\n'
    '  spec       MIoT specs: fetch, import, show.\n'
    '  status     Every readable property of a device, by name.\n'
    '  tokens     Recover tokens from Mi Home backups, databases and cache files.\n'
    "  watch      Print a device's state, then each change (pushed or polled).\n"
)

CLASSIC_HELP = (
    'Usage: miio-cli [OPTIONS]\n'
    '\n'
    "  miio-cli: the classic miIO command line (php-miio's flags).\n"
    '\n'
    '  As in the original, --info and --sendcmd may be given together: both run,\n'
    '  info first.\n'
    '\n'
    'Options:\n'
    '  --version          Show the version and exit.\n'
    '  --discover all|IP  Find all devices, or check one address.\n'
    '  --info             Show miIO.info of the device at --ip.\n'
    '  --sendcmd JSON     Send a JSON command to the device at --ip.\n'
    '  --decode HEX       Decode a packet (needs --token for the data).\n'
    '  --ip TEXT          Device IP address.\n'
    '  --bindip TEXT      Local interface address (the hello goes to its subnet).\n'
    '  --token TEXT       Device token (optional where the device reveals it).\n'
    '  --timeout SECONDS  Seconds.  [default: 5.0]\n'
    '  --debug            Show every packet and its JSON (tokens masked).\n'
    '  -h, --help         Show this message and exit.\n'
)

_HELP = ("--help", "-h")


def miio() -> int:
    if len(sys.argv) == 2 and sys.argv[1] in _HELP:
        sys.stdout.write(MIIO_HELP)
        return 0
    from pymiio.cli.main import main

    return main()


def miio_cli() -> int:
    if len(sys.argv) == 2 and sys.argv[1] in _HELP:
        sys.stdout.write(CLASSIC_HELP)
        return 0
    from pymiio.cli.classic import main

    return main()
