"""``make bench``: run every case in one go and write docs/benchmarks.md.

Each case reports ratios against a floor measured in the same run (and python-miio where it can
take part); how values are taken is in the written file's method paragraph. All traffic stays on
loopback.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from benchmarks.bridge_case import bridge_case
from benchmarks.command_case import command_case
from benchmarks.common import REPEATS, Row, address, compile_package, pin_client
from benchmarks.dashboard_case import DASHBOARD_BOUNDS, dashboard_case, figures
from benchmarks.local_cases import codec_case, startup_case
from benchmarks.network_cases import (
    discovery_case,
    fleet_case,
    loss_case,
    roundtrip_case,
    throughput_case,
    warm_fleet_case,
)
from benchmarks.scale_case import scale_case

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def _time(value: float) -> str:
    if value >= 1:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.2f} ms"
    return f"{value * 1e6:.1f} µs"


def _table(rows: list[Row], base: Row | None, base_label: str) -> list[str]:
    header = f"vs {base_label}" if base else "ratio"
    lines = [f"| | time | {header} | note |", "|---|---:|---:|---|"]
    for row in rows:
        ratio = f"{row.value / base.value:.2f}x" if base else "–"
        lines.append(f"| {row.name} | {_time(row.value)} | {ratio} | {row.note} |")
    return [*lines, ""]


def _find(rows: list[Row], prefix: str) -> Row:
    return next(row for row in rows if row.name.startswith(prefix))


def main() -> None:
    os.environ.setdefault("PYMIIO_CACHE_DIR", tempfile.mkdtemp(prefix="pymiio-bench-"))
    pinning = pin_client()
    compile_package()  # start-up and whole commands as an installed package runs them
    sections: list[tuple[str, list[str]]] = []
    targets: list[tuple[str, str, str, bool]] = []
    third: list[tuple[str, str, str, bool | None]] = []
    loads = [os.getloadavg()[0]]

    def section(title: str, body: list[str]) -> None:
        sections.append((f"{len(sections) + 1}. {title}", body))

    def target(name: str, measured: str, goal: str, met: bool) -> None:
        targets.append((name, measured, goal, met))

    def issue(name: str, measured: str, goal: str, met: bool | None) -> None:
        """A row of the third speed round's table (issue 29)."""
        third.append((name, measured, goal, met))

    def progress(text: str) -> None:
        sys.stderr.write(f"bench: {text}\n")

    def against_floor(title: str, rows: list[Row], name: str, goal: float) -> None:
        """A table against its first row (the floor) and pymiio's ratio as a target."""
        section(title, _table(rows, rows[0], "floor"))
        ratio = _find(rows, "pymiio").value / rows[0].value
        target(name, f"{ratio:.2f}x", f"≤ {goal}x", ratio <= goal)

    progress("codec")
    against_floor("Codec: build a request and parse a ~300-byte reply (time per pair)",
                  codec_case(), "codec vs floor", 1.3)

    progress("round trip")
    trip = roundtrip_case()
    floor = _find(trip, "floor codec")
    section("One command's round trip against a simulated device",
            _table(trip, floor, "floor codec"))
    minimal = _find(trip, "asyncio floor").value / floor.value
    for name, goal in (("pymiio AsyncDevice", 1.2), ("pymiio Device", 1.3)):
        ratio = _find(trip, name).value / floor.value
        shown = f"{ratio:.2f}x" + (f" (asyncio floor {minimal:.2f}x)" if "Async" in name else "")
        target(f"round trip, {name} vs floor", shown, f"≤ {goal}x", ratio <= goal)

    for count, delay, first in ((200, 0.0, "91.1"), (1000, 0.0, "100.1"),
                                (200, 0.01, "110.1"), (1000, 0.01, "120.1")):
        progress(f"fleet {count} delay {delay}")
        latency = f", {int(delay * 1000)} ms device latency" if delay else ", instant devices"
        against_floor(f"Polling {count} devices once (handshakes included){latency}",
                      fleet_case(count, delay, address(first)), f"fleet {count}{latency}", 1.5)

    progress("fleet 200, warm sweeps")
    warm = warm_fleet_case()
    against_floor("Sweeps over 200 devices with open sessions (warm, instant devices)",
                  warm, "fleet 200, warm sweeps", 1.3)
    ratio = _find(warm, "pymiio sweep engine").value / warm[0].value
    issue("warm sweeps of 200 vs the blocking floor (sweep engine)", f"{ratio:.2f}x "
          f"(AsyncDevice + gather {_find(warm, 'pymiio AsyncDevice').value / warm[0].value:.2f}x)",
          "≤ 1.25x", ratio <= 1.25)

    progress("20% loss (python-miio takes minutes)")
    loss = loss_case(1000, 20)
    section("20 % datagram loss each way, default settings", [
        "| | value | calls |", "|---|---:|---:|",
        *[f"| {row.name} | {row.value:.1f} % | {row.note} |" if row.unit == "%"
          else f"| {row.name} | {_time(row.value)} | {row.note} |" for row in loss], ""])
    success = _find(loss, "pymiio Device: success").value
    p99 = _find(loss, "pymiio Device: p99").value
    target("20 % loss: pymiio success", f"{success:.1f} %", "100 %", success == 100)
    target("20 % loss: pymiio p99", _time(p99), "< 1.5 s", p99 < 1.5)

    progress("discovery")
    found = discovery_case()
    one_floor = _find(found, "one address: floor")
    broadcast = [row for row in found if not row.name.startswith("one address")]
    section("Discovery", [
        "One address, per call:", "",
        *_table([row for row in found if row not in broadcast], one_floor, "floor"),
        "200 devices by loopback broadcast, until the last has answered:", "",
        *_table(broadcast, broadcast[0], "floor")])
    theirs_one = _find(found, "one address: python-miio").value
    own_socket = _find(found, "one address: asyncio floor").value / one_floor.value
    nothing = _find(found, "one address: pymiio discover_one").value
    ratio = nothing / one_floor.value
    own = _find(found, "one address: asyncio floor").value
    issue("`discover_one` with nothing open vs the blocking floor (and vs the asyncio socket "
          "floor)", f"{ratio:.2f}x ({nothing / own:.2f}x)", "≤ 1.9x (≤ 1.2x)",
          ratio <= 1.9 and nothing / own <= 1.2)
    for name, label in (("one address: pymiio discover_one,", "discover_one, a device open"),
                        ("one address: pymiio discover_one", "discover_one, nothing open")):
        ours_one = _find(found, name).value
        ratio = ours_one / one_floor.value
        floor_note = f", asyncio floor {own_socket:.2f}x" if "nothing" in label else ""
        target(f"{label} vs floor (and vs python-miio)",
               f"{ratio:.2f}x ({ours_one / theirs_one:.2f}x python-miio{floor_note})",
               "≤ 1.3x, < 1x python-miio", ratio <= 1.3 and ours_one < theirs_one)
    ratio = _find(found, "200 by broadcast: pymiio").value / broadcast[0].value
    target("broadcast discovery of 200 vs its floor", f"{ratio:.2f}x", "≤ 1.5x", ratio <= 1.5)

    progress("start-up")
    start = startup_case()
    section("Start-up (`--help`)", _table(start, start[0], "`python -c pass`"))
    faster = _find(start, "python-miio").value / _find(start, "miio --help").value
    target("`miio --help` vs `miiocli --help`", f"{faster:.1f}x faster", "≥ 3x", faster >= 3)
    for name in ("miio --help", "miio-cli --help"):
        ratio = _find(start, name).value / start[0].value
        target(f"`{name}` vs `python -c pass`", f"{ratio:.2f}x", "≤ 2.5x", ratio <= 2.5)

    progress("miio status, whole process")
    whole = command_case(address("98.1"))
    section("`miio status` of a real-spec Air Purifier 3H (55 properties), whole process", [
        "Each command a process of its own against one simulated device with the real spec, "
        "the three taking turns; medians.", "",
        *_table(whole, whole[-1], "python-miio")])
    if len(whole) > 1:
        ratio = _find(whole, "pymiio").value / _find(whole, "python-miio").value
        issue("`miio status` of a real-spec Air Purifier 3H, whole process, vs python-miio's "
              "`AirPurifierMiot.status()` in a process of its own", f"{ratio:.2f}x", "≤ 0.5x",
              ratio <= 0.5)

    progress("simulator throughput")
    rates = throughput_case()
    section("The simulator's throughput: 50 devices kept busy by one client", [
        "| | requests answered per second | vs floor |", "|---|---:|---:|",
        *[f"| {row.name} | {row.value:,.0f} | {row.value / rates[0].value:.2f}x |"
          for row in rates], ""])
    ratio = rates[1].value / rates[0].value
    target("simulator throughput vs minimal device loop", f"{ratio:.2f}x", "≥ 0.9x",
           ratio >= 0.9)

    progress("10,000 simulated devices")
    scale = scale_case()
    section("The simulator at scale: 10,000 devices in one process", [
        "| | value |", "|---|---:|", *[f"| {row.name} | {_value(row)} |" for row in scale],
        ""])
    ready = _find(scale, "time to ready").value
    memory = _find(scale, "memory").value
    answered = _find(scale, "devices that answered").value
    target("10,000 simulated devices: ready, memory, all answer",
           f"{ready:.2f} s, {memory:.0f} MB, {answered:.0f}", "≤ 1.5 s, ≤ 96 MB, 10,000",
           ready <= 1.5 and memory <= 96 and answered == 10_000)

    for count, first in ((1000, "130.1"), (5000, "200.1")):
        progress(f"bridge, {count:,} devices (about 2 minutes)")
        try:
            bridge = bridge_case(count, address(first))
        except Exception as exc:  # the other results must still be written
            bridge = [Row(f"bridge: not measured ({type(exc).__name__}: {exc})", 0.0)]
        section(f"The MQTT bridge: {count:,} devices polled every 10 s", [
            "| | value |", "|---|---:|",
            *[f"| {row.name} | {_value(row)} |" for row in bridge], ""])
        if len(bridge) < 2:
            continue
        start = _find(bridge, "pymiio bridge: every state").value
        floor_start = _find(bridge, "floor: every state").value
        cpu = _find(bridge, "pymiio bridge: CPU").value
        floor_cpu = _find(bridge, "floor: CPU").value
        rss = _find(bridge, "pymiio bridge: memory").value
        p99 = _find(bridge, "pymiio bridge: /set → response p99").value
        if count == 1000:
            target("bridge CPU share (floor in the same run)",
                   f"{cpu:.1f} % ({cpu / floor_cpu:.2f}x floor's {floor_cpu:.1f} %)", "≤ 4 %",
                   cpu <= 4)
            target("bridge /set → response p99", _time(p99), "≤ 25 ms", p99 <= 0.025)
            issue("bridge start, 1,000 devices: every state published after start",
                  f"{start:.2f} s (floor {floor_start:.2f} s)", "≤ 3 s", start <= 3)
        else:
            issue("bridge at 5,000 devices, interval 10 s: all published / CPU / RSS / `/set` "
                  "p99", f"{start:.1f} s / {cpu:.1f} % / {rss:.0f} MB / {p99 * 1e3:.1f} ms "
                  f"(floor {floor_start:.1f} s / {floor_cpu:.1f} %)",
                  "≤ 10 s / ≤ 8 % / ≤ 250 MB / ≤ 25 ms",
                  start <= 10 and cpu <= 8 and rss <= 250 and p99 <= 0.025)
    progress("dashboard, 1,000 devices in headless chromium")
    try:
        board = dashboard_case(address("140.1"))
    except Exception as exc:  # the other results must still be written
        board = [Row(f"dashboard: not measured ({type(exc).__name__}: {exc})", 0.0)]
    section("The dashboard (`miio bridge --web`): 1,000 devices in headless chromium", [
        "| | value |", "|---|---:|", *[f"| {row.name} | {_value(row)} |" for row in board], ""])
    measured, met = figures(board)
    issue("dashboard with 1,000 devices (the web issue): page interactive in headless Chromium "
          "/ a change on the page after it reaches MQTT", measured, "≤ 1.5 s / ≤ 200 ms", met)
    loads.append(os.getloadavg()[0])
    _write(sections, targets, third, pinning, loads)


def _value(row: Row) -> str:
    if row.unit == "count":
        return f"{row.value:,.0f}"
    if row.unit == "%":
        return f"{row.value:.1f} %"
    if row.unit == "MB":
        return f"{row.value:.0f} MB"
    return _time(row.value)


def _write(sections: list[tuple[str, list[str]]],
           targets: list[tuple[str, str, str, bool]],
           third: list[tuple[str, str, str, bool | None]],
           pinning: str, loads: list[float]) -> None:
    lines = [
        "# Benchmarks", "",
        f"Measured {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}: pymiio {version('pymiio')}, python-miio "
        f"{version('python-miio')}, cryptography {version('cryptography')}. `make bench` "
        "rewrites this file.", "",
        "Method: every case runs in one process against simulated devices in another process "
        f"({pinning}), all on loopback. Round trips, fleets, warm sweeps, discovery and the "
        "simulator's throughput run the floor and the clients in turns, round after round, "
        "and report each one's best round (as `timeit` advises: interference on a shared "
        "machine only ever slows a round down, and turns give every case the same drift). "
        f"The codec, start-up and python-miio's fleet polls are medians of {REPEATS} runs (3 "
        "for slow python-miio fleet runs). The floor is the least a client "
        "can do: `benchmarks/floor.py`, a struct + hashlib + cryptography codec with "
        "byte-identical output, used over a plain socket, and for fleets one socket that sends "
        "everything and collects everything.", "",
        f"Load: the one-minute load average was {loads[0]:.1f} when the run began and "
        f"{loads[-1]:.1f} when it ended, on {os.cpu_count()} cores"
        + (": the numbers were taken under load (other work shared the machine), so compare "
           "ratios measured in the same run, not times across runs." if max(loads) > 1.0
           else "."), "",
        "## Third speed round (issue 29)", "",
        "| case | measured | target | met |", "|---|---:|---:|:---:|",
        *[f"| {name} | {value} | {goal} | {'–' if ok is None else 'yes' if ok else '**no**'} |"
          for name, value, goal, ok in third], "",
        "## Targets of the earlier rounds", "", "| target | measured | goal | met |",
        "|---|---:|---:|:---:|",
        *[f"| {name} | {value} | {goal} | {'yes' if ok else '**no**'} |"
          for name, value, goal, ok in targets], "",
    ]
    for title, body in sections:
        lines += [f"## {title}", "", *body]
    lines += [
        "## What bounds the remaining gaps", "",
        "Third round (issue 29):", "",
        "- Warm sweeps: the sweep engine (`lan/sweep.py`) drives every device's session from "
        "one task, with one timer for the sweep and one pass over the calls that ended per "
        "wake-up, so the task, future and timer per call of `AsyncDevice` + `gather` are gone. "
        "What is left against the blocking floor is the session's rules per call (an id from "
        "the persistent store, the retry deadline, round-trip samples under Karn's rule), "
        "the device's turn and the endpoint's routing by address, and one event-loop wake-up "
        "per burst of replies; the floor sends everything and then blocks in `recvfrom`.",
        "- Bridge start: every device is read as soon as the bridge is connected (at most 512 "
        "`miIO.info` at a time, through the sweep), each model is described once however many "
        "devices share it, ids the disk must give are reserved for a whole pass in one worker "
        "job, and at most 64 retained publishes wait for the broker's acknowledgement at once "
        "(aiomqtt scans every pending call on each publish, so thousands in flight cost more "
        "than they save). Against the floor, the bridge sends three datagrams per device where "
        "the floor sends two (`miIO.info` gives the firmware and signal for Home Assistant), "
        "publishes each device's discovery config, availability and state with QoS 1 where the "
        "floor publishes one message with QoS 0, and checks every value against the model.",
        "- Bridge at 5,000 devices: steady polling is one sweep per 0.1 s grid slot; the CPU "
        "left is the per-device work of a poll (the session, the model's value checks, the "
        "state's JSON and its MQTT publish when it changed) and memory is one `AsyncDevice`, "
        "session and served record per device plus the models they share.",
        "- `miio status`: the process imports click, cryptography and the device knowledge "
        "(dataclasses, which bring `inspect`) and reads the inventory and the id store; what "
        "was cut: asyncio is no longer imported on the blocking path (`lan/faces.py`), rich "
        "is not imported for piped output (`cli/table.py` draws rich's table itself), the spec "
        "is parsed once per version of its file (`knowledge/spec_cache.py`), and writing-only "
        "modules load when a file is written. Both processes run from compiled bytecode "
        "(`make bench` compiles pymiio's first, as installing it does). python-miio imports "
        "its whole device catalogue and its construct-based codec.",
        "- `discover_one` with nothing open makes, registers and closes a socket for the one "
        "exchange; the asyncio floor row does only that and is itself most of the gap to the "
        "blocking floor.",
        "- Dashboard (the web issue): " + DASHBOARD_BOUNDS, "",
        "Earlier rounds:", "",
        "- Codec: pymiio returns a `Packet` object and decodes JSON tolerantly (stripping "
        "trailing NULs and repairing firmware quirks on failure); the floor returns bare "
        "values. Profiling shows no other cost.",
        "- Async round trip and fleets: asyncio's per-call machinery (a task per device under "
        "`gather`, a future, a timer for the retry) on top of the same syscalls. The warm-sweep "
        "table shows it: the least an asyncio client can do is already 1.1-1.3x the blocking "
        "floor. pymiio adds about 6 µs of CPU per call in a warm sweep: the session's "
        "bookkeeping (ids from the persistent store, round-trip samples under Karn's rule, the "
        "retry timer's deadline), the per-device turn and a second coroutine frame. The "
        "sync `Device` drives the same session over a blocking socket and sits close to the "
        "floor.",
        "- One round trip: on this virtual machine most of a round trip is system calls, and "
        "the client's code runs with cold caches after each wait. The largest saving of the "
        "second speed round was a system call: reading the socket until it was empty cost "
        "one failed `recvfrom` per reply, 10-20 µs on this path, so the endpoint now reads "
        "as many datagrams per wake-up as calls await. Ids reserved ahead in the background "
        "in growing blocks (a blocking reservation had cost about 500 µs every 100 calls), "
        "decryption through one kept ECB context, the JSON encoder built once and a lighter "
        "`Call` took a few µs more. What separates `AsyncDevice` from the asyncio floor in the "
        "same turns is Python bytecode: about 1,800 instructions per call against the "
        "floor's 1,290 (counted with a tracer: the session's id, retry and round-trip rules, "
        "the call's turn, the route lookup), which `perf` puts at about 8 µs per call in the "
        "interpreter on this machine. The same work in a warm loop costs under 1 µs.",
        "- Fleets polled once (handshakes included) build 200 or 1,000 device objects per run "
        "and close them again; each send and each close is a task under `gather`. A first "
        "call sends hello and command in one exchange when the device's request ids are in "
        "memory; otherwise it pauses after the hello to reserve them in a worker thread, so "
        "the event loop never waits for the disk. These ratios rose in the second speed round "
        "although pymiio got faster (1,000 instant devices: about 113 ms before, 72 ms after, "
        "measured side by side): the simulator became about 2.5 times faster, so the floor is "
        "no longer waiting for the devices and every microsecond of client CPU shows.",
        "- Discovery of one address: with a device open, `discover_one` borrows the shared "
        "endpoint and costs one asyncio exchange; with nothing open it makes a small socket "
        "for the call and closes it. The asyncio floor row does only that (a socket "
        "registered with the loop, one future, one timer, closed again) and is itself well "
        "above 1.3x of the blocking floor, so that target cannot be met by an asyncio "
        "function that opens its own socket; keeping one open between calls would break the "
        "rule that closing the last device closes every socket. python-miio sends its hello "
        "three times and returns on the first reply without checking it further.",
        "- Broadcast discovery yields each device as it answers through an async iterator; "
        "its endpoint drains every queued reply per wake-up, where the floor's socket with a "
        "timeout polls before each read.",
        "- python-miio cannot take part in loopback broadcast discovery: its broadcast always "
        "goes to 255.255.255.255, which these benchmarks never send to.",
        "- The 20 % loss case uses 20 calls for python-miio: at its defaults, a lost reply costs "
        "it a 5 s timeout per retry.",
        "- The simulator runs each request through its device model (parsed `Packet`, method "
        "dispatch, property lookup, statistics); the floor (`benchmarks/device_floor.py`) "
        "answers every request with a fixed reply.",
        "- The bridge's floor (`benchmarks/bridge_floor.py`) polls the same devices on the same "
        "0.1 s grid with the floor codec on one socket and publishes bare MQTT messages: no "
        "per-device sessions, retries, value checks, availability or discovery.",
        "- This 2-core virtual machine's speed drifts, at times by half for minutes (one whole "
        "run had the pure-CPU codec at 1.37x instead of 1.04-1.25x). Even best-of-turns ratios "
        "move by about 0.1 from run to run; medians of the same turns moved by up to 0.3.",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
