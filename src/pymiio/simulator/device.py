"""One simulated device's behaviour, sans I/O: a datagram in, the datagrams it answers with.

It uses the protocol layer's codec (the client's own), checks every checksum, drops what a
real device drops, and keeps the token lifecycle of the original description: unprovisioned
devices reveal their token in hello replies until ``miIO.config_router`` provisions them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pymiio.errors import ChecksumError, MiioError, UsageError
from pymiio.knowledge.model import argument_name
from pymiio.protocol.message import decode_reply, encode_json
from pymiio.protocol.packet import build_packet, hello_reply, parse_packet
from pymiio.protocol.token import Token
from pymiio.simulator.classic import Refused
from pymiio.simulator.profiles import Profile
from pymiio.simulator.spec_state import SpecState

log = logging.getLogger("pymiio.simulator")

Reply = dict[str, Any]


@dataclass
class Stats:
    hellos: int = 0
    requests: int = 0
    checksum_drops: int = 0
    malformed_drops: int = 0
    repeated_id_drops: int = 0


@dataclass
class SimulatedDevice:
    """A device at ``host``; ``clock_start`` is when it 'booted' (its uptime is the stamp)."""

    host: str
    device_id: int
    token: Token
    profile: Profile
    provisioned: bool = True
    clock_start: float = 0.0
    boot_uptime: int = 1000
    stats: Stats = field(default_factory=Stats)
    quirk: Callable[[str], str] | None = field(default=None, repr=False)  # a firmware fault
    now: float = 0.0
    _seen_ids: deque[Any] = field(default_factory=deque, repr=False)
    _seen_set: set[Any] = field(default_factory=set, repr=False)
    # MIoT push: who subscribed with miIO.sub, and datagrams for them the server sends.
    subscribers: list[tuple[str, int]] = field(default_factory=list, repr=False)
    outbox: list[tuple[tuple[str, int], bytes]] = field(default_factory=list, repr=False)
    source: tuple[str, int] | None = field(default=None, repr=False)
    _push_id: int = field(default=0, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # family behaviour state
    rssi: int = -42  # the Wi-Fi signal miIO.info reports (dBm)
    _spec: SpecState | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.profile.spec is not None:
            overrides = {key: entry["value"] for key, entry in self.profile.miot.items()}
            self._spec = SpecState(self.profile.spec, overrides, self.profile.fw_ver)

    @property
    def spec_values(self) -> dict[tuple[int, int], Any]:
        """The current values of a spec-driven device (empty for others)."""
        return self._spec.values if self._spec is not None else {}

    def uptime(self, now: float) -> int:
        return self.boot_uptime + int(now - self.clock_start)

    def handle(self, data: bytes, now: float,
               source: tuple[str, int] | None = None) -> list[bytes]:
        """Answer one datagram (nothing for what the device would drop); pushes for
        subscribers collect in ``outbox``."""
        self.now = now
        self.source = source
        if len(data) == 32:
            return self._hello(data, now)
        try:
            packet = parse_packet(data, self.token)
        except ChecksumError:
            self.stats.checksum_drops += 1
            log.info("%s: dropped a packet signed with another token", self.host)
            return []
        except MiioError as exc:
            self.stats.malformed_drops += 1
            log.info("%s: dropped a malformed packet: %s", self.host, exc)
            return []
        if packet.device_id != self.device_id:
            self.stats.malformed_drops += 1
            log.info("%s: dropped a packet for device id %d", self.host, packet.device_id)
            return []
        assert packet.payload is not None
        reply = self._request(packet.payload)
        if reply is None:
            return []
        payload = encode_json(reply)
        if self.quirk is not None:
            payload = self.quirk(payload.decode()).encode()
        return [build_packet(self.token, self.device_id, self.uptime(now), payload)]

    def _hello(self, data: bytes, now: float) -> list[bytes]:
        try:
            packet = parse_packet(data)
        except MiioError:
            self.stats.malformed_drops += 1
            return []
        if not packet.is_hello_request:
            return []
        self.stats.hellos += 1
        revealed = None if self.provisioned else self.token
        return [hello_reply(self.device_id, self.uptime(now), revealed)]

    def _request(self, payload: bytes) -> Reply | None:
        try:
            request = decode_reply(payload)
        except MiioError:
            return {"error": {"code": -30001, "message": "Resp Invalid JSON"}}
        return self.dispatch_request(request)

    def dispatch_request(self, request: dict[str, Any]) -> Reply | None:
        """The reply to one decoded request (None: the device ignores it)."""
        if "method" not in request:
            return None  # a client's acknowledgement of our push
        request_id = request.get("id")
        if self.profile.id_memory and self._repeated(request_id):
            self.stats.repeated_id_drops += 1
            log.info("%s: ignored request id %r, seen recently", self.host, request_id)
            return None
        self.stats.requests += 1
        method = request["method"]
        try:
            result = self.dispatch(method if type(method) is str else str(method),
                                   request.get("params", []))
        except Refused as refusal:
            return {"id": request_id, "error": {"code": refusal.code, "message": refusal.message}}
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError,
                RecursionError) as exc:  # params of a shape no handler expects
            log.info("%s: refused malformed params for %s: %s", self.host, str(method)[:40], exc)
            return {"id": request_id, "error": {"code": -5005, "message": "params error"}}
        return {"id": request_id, "result": result}

    def _repeated(self, request_id: Any) -> bool:
        """Vacuum-like profiles remember recent ids and ignore a repeat silently."""
        memory = self.profile.id_memory
        if not memory or not isinstance(request_id, int | str):
            return False
        if request_id in self._seen_set:
            return True
        self._seen_ids.append(request_id)
        self._seen_set.add(request_id)
        if len(self._seen_ids) > memory:
            self._seen_set.discard(self._seen_ids.popleft())
        return False

    # -- methods ------------------------------------------------------------------------

    def dispatch(self, method: str, params: Any) -> Any:
        behaviour = self.profile.behaviour
        special = behaviour.methods.get(method)
        if special is not None:
            return special(self, params if method in behaviour.raw_params
                           else _param_list(params))
        handler = _METHODS.get(method)
        if handler is not None:
            return handler(self, params)
        if method.startswith("set_") and behaviour.any_setter:
            return self._set_legacy(method[4:], params)
        if behaviour.accepts is not None and method.startswith(behaviour.accepts):
            return ["ok"]
        raise Refused(-32601, "Method not found.")

    def info(self) -> dict[str, Any]:
        low = (self.device_id & 0xFFFFFFFF).to_bytes(4, "big")
        mac = ":".join(f"{b:02X}" for b in (0x78, 0x11, *low))
        return {
            "life": self.uptime(self.now),
            "model": self.profile.model,
            "token": self.token.hex,
            "ipflag": 1,
            "fw_ver": self.profile.fw_ver,
            "hw_ver": self.profile.hw_ver,
            "mac": mac,
            "wifi_fw_ver": "SD878x-14.76.36.p84-702.1.0-WM",
            "miio_ver": "0.0.5",
            "mmfree": 30000,
            "ap": {"ssid": "simulated" if self.provisioned else "", "bssid": "02:00:00:00:00:01",
                   "rssi": self.rssi},
            "netif": {"localIp": self.host, "mask": "255.0.0.0", "gw": "127.0.0.1"},
        }

    def _get_prop(self, params: Any) -> list[Any]:
        names = _param_list(params)
        if len(names) > self.profile.max_props:
            raise Refused(-9999, "user ack timeout")
        if self.profile.family == "miot":
            raise Refused(-32601, "Method not found.")
        props = self.profile.props
        return [props.get(str(name)) for name in names]

    def _set_legacy(self, name: str, params: Any) -> list[str]:
        values = _param_list(params)
        if name not in self.profile.props or not values:
            raise Refused(-5001, "invalid_arg")
        current = self.profile.props[name]
        value = values[0]
        if isinstance(current, bool | int | float) != isinstance(value, bool | int | float):
            raise Refused(-5001, "invalid_arg")
        self.profile.props[name] = value
        return ["ok"]

    def toggle(self, name: str) -> list[str]:
        """Flip a power-like property, whichever way the firmware keeps it."""
        props = self.profile.props
        current = props.get(name)
        props[name] = (not current) if isinstance(current, bool) else (
            "off" if current == "on" else "on")
        return ["ok"]

    def _toggle(self, params: Any) -> list[str]:
        props = self.profile.props
        if "power" not in props:
            raise Refused(-32601, "Method not found.")
        props["power"] = "off" if props["power"] == "on" else "on"
        return ["ok"]

    def _get_properties(self, params: Any) -> list[dict[str, Any]]:
        items = self._miot_items(params, ("siid", "piid"))
        if self._spec is not None:
            return [self._spec.get(item) for item in items]
        out = []
        for item in items:
            entry = self.profile.miot.get((item["siid"], item["piid"]))
            answer = {"did": item.get("did"), "siid": item["siid"], "piid": item["piid"]}
            if entry is None:
                answer["code"] = -4003
            else:
                answer.update(code=0, value=entry["value"])
            out.append(answer)
        return out

    def _set_properties(self, params: Any) -> list[dict[str, Any]]:
        items = self._miot_items(params, ("siid", "piid", "value"))
        if self._spec is not None:
            changed: list[tuple[tuple[int, int], Any]] = []
            answers = [self._spec.set(item, changed) for item in items]
            self._push_changes(changed)
            return answers
        out = []
        for item in items:
            entry = self.profile.miot.get((item["siid"], item["piid"]))
            code = -4003 if entry is None else (0 if entry["writable"] else -4002)
            if entry is not None and code == 0:
                if type(entry["value"]) is not type(item["value"]):
                    code = -4005
                else:
                    entry["value"] = item["value"]
            out.append({"did": item.get("did"), "siid": item["siid"], "piid": item["piid"],
                        "code": code})
        return out

    def _action(self, params: Any) -> dict[str, Any]:
        if not isinstance(params, dict) or not {"siid", "aiid"} <= params.keys() or not (
                type(params["siid"]) is int and type(params["aiid"]) is int):
            raise Refused(-5005, "params error")
        if self._spec is not None:
            changed: list[tuple[tuple[int, int], Any]] = []
            result = self._spec.act(params["siid"], params["aiid"], params.get("in", []), changed)
            self._push_changes(changed)
            return result
        if not isinstance(params.get("in", []), list):
            return {"code": -4006}
        if (params["siid"], params["aiid"]) not in self.profile.actions:
            return {"code": -4003}
        return {"code": 0, "out": []}

    def _subscribe(self, params: Any) -> dict[str, int]:
        """``miIO.sub``: the sender's address gets pushes from now on (at most 16)."""
        if self.source is not None and self.source not in self.subscribers:
            self.subscribers.append(self.source)
            del self.subscribers[:-16]
        return {"code": 0}

    def _unsubscribe(self, params: Any) -> dict[str, int]:
        if self.source in self.subscribers:
            self.subscribers.remove(self.source)
        return {"code": 0}

    def _push_changes(self, changed: list[tuple[tuple[int, int], Any]]) -> None:
        """``properties_changed`` to every subscriber, as a request the client acknowledges."""
        if not changed:
            return
        self.push("properties_changed", [
            {"did": str(self.device_id), "siid": siid, "piid": piid, "value": value}
            for (siid, piid), value in changed])

    def push(self, method: str, params: Any) -> None:
        """A request of the device's own to every subscriber (collected in ``outbox``)."""
        if not self.subscribers:
            return
        self._push_id = self._push_id % 9999 + 1
        payload = encode_json({"id": self._push_id, "method": method, "params": params})
        packet = build_packet(self.token, self.device_id, self.uptime(self.now), payload)
        self.outbox.extend((subscriber, packet) for subscriber in self.subscribers)

    def raise_event(self, event: str, arguments: dict[str, Any] | None = None,
                    ) -> dict[str, Any]:
        """Raise an event of the device's spec as the device would (a button pressed, a
        filter worn out): ``event_occured`` to every subscriber. ``event`` is a name or
        ``SIID.EIID``; ``arguments`` are by name (``mode`` or ``thing:mode``), checked
        against their properties, and those not given carry the property's current value.
        Returns the params pushed; UsageError for an unknown event or argument."""
        if self._spec is None:
            raise UsageError(f"{self.profile.model} has no spec, so no events")
        found = self._spec.spec.event_named(event)
        given = dict(arguments or {})
        items = []
        for prop in found.arguments:
            value = self._spec.values.get((prop.siid, prop.piid))
            for key in (argument_name(prop), prop.name):
                if key in given:
                    value = prop.convert(given.pop(key))
            items.append({"piid": prop.piid, "value": value})
        if given:
            raise UsageError(f"{found.name} has no argument named {next(iter(given))!r}; "
                             f"its arguments: "
                             f"{', '.join(argument_name(p) for p in found.arguments) or 'none'}")
        params = {"did": str(self.device_id), "siid": found.siid, "eiid": found.eiid,
                  "arguments": items}
        self.push("event_occured", params)
        return params

    def _raise_event(self, params: Any) -> dict[str, Any]:
        """``simulator.raise_event`` ``{"event": name, "arguments": {name: value}}``: the
        simulator's own method (no real device has it), so tests, the demo and
        ``miio send`` can raise an event through the protocol."""
        if not isinstance(params, dict) or not isinstance(params.get("event"), str) or not \
                isinstance(params.get("arguments", {}), dict):
            raise Refused(-5005, "params error")
        try:
            pushed = self.raise_event(params["event"], params.get("arguments"))
        except UsageError as exc:
            raise Refused(-5005, str(exc)) from None
        return {"code": 0, "siid": pushed["siid"], "eiid": pushed["eiid"],
                "subscribers": len(self.subscribers)}

    def set_value(self, siid: int, piid: int, value: Any) -> None:
        """Change a property as the device itself would (a sensor reading, a button)."""
        if self._spec is not None:
            prop = self._spec.spec.by_ids(siid, piid)
            if prop is not None:
                changed: list[tuple[tuple[int, int], Any]] = []
                self._spec.assign(prop, value, changed)
                self._push_changes(changed)

    def _miot_items(self, params: Any, keys: tuple[str, ...]) -> list[dict[str, Any]]:
        if self.profile.family != "miot":
            raise Refused(-32601, "Method not found.")
        if not isinstance(params, list) or not params:
            raise Refused(-5005, "params error")
        if len(params) > self.profile.max_props:
            raise Refused(-9999, "user ack timeout")
        for item in params:
            if not isinstance(item, dict) or not set(keys) <= item.keys() or not all(
                    type(item[key]) is int for key in keys if key != "value"):
                raise Refused(-5005, "params error")
        return params

    def _config_router(self, params: Any) -> list[str]:
        if not isinstance(params, dict) or not isinstance(params.get("ssid"), str) \
                or not isinstance(params.get("passwd"), str):
            raise Refused(-5005, "params error")
        self.provisioned = True
        return ["ok"]


def _param_list(params: Any) -> list[Any]:
    if params is None:
        return []
    if not isinstance(params, list):
        raise Refused(-5001, "invalid_arg")
    return params


_METHODS: dict[str, Callable[[SimulatedDevice, Any], Any]] = {
    "miIO.info": lambda device, params: device.info(),
    "get_prop": SimulatedDevice._get_prop,
    "get_status": lambda device, params: [dict(device.profile.props)],
    "toggle": SimulatedDevice._toggle,
    "get_properties": SimulatedDevice._get_properties,
    "set_properties": SimulatedDevice._set_properties,
    "action": SimulatedDevice._action,
    "miIO.config_router": SimulatedDevice._config_router,
    "miIO.sub": SimulatedDevice._subscribe,
    "miIO.unsub": SimulatedDevice._unsubscribe,
    "simulator.raise_event": SimulatedDevice._raise_event,
    "miIO.wifi_assoc_state": lambda device, params: {
        "state": "ONLINE" if device.provisioned else "INIT", "auth_fail_count": 0,
        "conn_success_count": 1, "conn_fail_count": 0, "dhcp_fail_count": 0},
}
