"""The signed app API: homes, shared homes, device lists (paginated), BLE beacon keys.

Base URL ``https://{region}.api.io.mi.com/app`` (``cn``: ``https://api.io.mi.com/app``);
``PYMIIO_CLOUD_API_URL`` overrides it with a template containing ``{region}``. Each region is
asked on its own with a bounded timeout, so one that hangs does not stop the others.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from pymiio.bounded_http import Fetcher, shown
from pymiio.cloud import REGIONS as REGIONS  # where the app API's regions are said
from pymiio.cloud.account import CloudLogin
from pymiio.cloud.signing import decrypt_response, encrypt_params, nonce
from pymiio.errors import CloudError, ExpiredSession

TIMEOUT = 15.0
PAGE = 200
MAX_ANSWER = 32 * 1024 * 1024  # a page of 200 devices is well under a megabyte
MAX_PAGES = 50


def api_url(region: str) -> str:
    template = os.environ.get("PYMIIO_CLOUD_API_URL")
    if template:
        return template.replace("{region}", region).rstrip("/")
    if region == "cn":
        return "https://api.io.mi.com/app"
    return f"https://{region}.api.io.mi.com/app"


@dataclass
class CloudDevice:
    did: str
    name: str
    model: str
    token: str
    ip: str | None
    mac: str | None
    region: str
    parent_id: str | None = None
    ble_key: str | None = None

    def as_dict(self, show_token: bool) -> dict[str, Any]:
        from pymiio.protocol.token import mask_tokens

        data: dict[str, Any] = {"did": self.did, "name": self.name, "model": self.model,
                                "token": self.token if show_token else mask_tokens(self.token),
                                "ip": self.ip, "mac": self.mac, "region": self.region}
        if self.parent_id:
            data["parent_id"] = self.parent_id
        if self.ble_key:
            data["ble_key"] = self.ble_key if show_token else mask_tokens(self.ble_key)
        return data


class Api:
    """The app API of one region. Every call has a deadline (``timeout``) and all calls
    together one more (``deadline``, a ``time.monotonic()`` value), so a region that dribbles
    or pages forever ends; answers are capped."""

    def __init__(self, session: CloudLogin, region: str, timeout: float = TIMEOUT,
                 deadline: float | None = None) -> None:
        self.session, self.region, self.timeout = session, region, timeout
        self.deadline = deadline if deadline is not None else time.monotonic() + 4 * timeout
        self.base = api_url(region)
        self.client = Fetcher(CloudError, timeout=timeout, limit=MAX_ANSWER,
                              what=f"region {region}", headers={
            "Accept-Encoding": "identity", "x-xiaomi-protocal-flag-cli": "PROTOCAL-HTTP2",
            "MIOT-ENCRYPT-ALGORITHM": "ENCRYPT-RC4",
            "User-Agent": "Android-7.1.1-1.0.0-ONEPLUS A3010-136-PYMIIO APP/xiaomi.smarthome "
                          "APPV/62830"})

    def close(self) -> None:
        self.client.close()

    def call(self, path: str, data: dict[str, Any]) -> Any:
        """POST one signed, encrypted request; the decrypted ``result``."""
        session = self.session
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CloudError(f"region {self.region} did not answer within its time")
        nonce_text = nonce()
        form = encrypt_params("POST", path, {"data": json.dumps(data, separators=(",", ":"))},
                              session.ssecurity, nonce_text)
        cookies = {"userId": session.user_id, "serviceToken": session.service_token,
                   "yetAnotherServiceToken": session.service_token, "locale": "en_GB",
                   "timezone": "GMT+00:00", "is_daylight": "0", "dst_offset": "0",
                   "channel": "MI_APP_STORE"}
        header = "; ".join(f"{k}={v}" for k, v in cookies.items())
        response = self.client.post(f"{self.base}{path}", data=form, headers={"Cookie": header},
                                    timeout=min(self.timeout, left))
        if response.status in (401, 403):
            raise ExpiredSession("the Xiaomi session expired")
        if response.status != 200:
            raise CloudError(f"region {self.region} answered HTTP {response.status}")
        answer = decrypt_response(response.body, session.ssecurity, nonce_text)
        if not isinstance(answer, dict):
            raise CloudError(f"region {self.region} answered with an unexpected shape")
        code, message = answer.get("code"), str(answer.get("message", ""))
        if code in (2, 3) or "auth err" in message or "SERVICETOKEN_EXPIRED" in message or \
                "invalid signature" in message:
            raise ExpiredSession(f"the Xiaomi session expired ({shown(message) or code})")
        if code not in (0, None):
            raise CloudError(f"region {self.region} refused {path}: "
                             f"{shown(message) or shown(str(code), 20)}")
        return answer.get("result")

    def devices(self) -> list[CloudDevice]:
        """Every device of the account's own homes and of the homes shared with it."""
        homes = self.call("/v2/homeroom/gethome", {"fg": True, "fetch_share": True,
                                                   "fetch_share_dev": True, "limit": 300,
                                                   "app_ver": 7})
        pairs = [(str(h.get("id")), self.session.user_id)
                 for h in _list(homes, "homelist") if isinstance(h, dict)]
        shared = self.call("/v2/user/get_device_cnt", {"fetch_own": True, "fetch_share": True})
        share = shared.get("share", {}) if isinstance(shared, dict) else {}
        pairs += [(str(h.get("home_id")), str(h.get("home_owner")))
                  for h in _list(share, "share_family") if isinstance(h, dict)]
        found: dict[str, CloudDevice] = {}
        for home_id, owner in pairs:
            for record in self._home_devices(home_id, owner):
                device = self._device(record)
                if device is not None:
                    found.setdefault(device.did, device)
        return list(found.values())

    def _home_devices(self, home_id: str, owner: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        start = ""
        for _ in range(MAX_PAGES):
            page = self.call("/v2/home/home_device_list", {
                "home_owner": int(owner) if owner.isdigit() else owner,
                "home_id": int(home_id) if home_id.isdigit() else home_id, "limit": PAGE,
                "start_did": start, "get_split_device": True, "support_smart_home": True})
            records += [r for r in _list(page, "device_info") if isinstance(r, dict)]
            if not isinstance(page, dict) or not page.get("has_more") or not page.get("max_did"):
                break
            start = str(page["max_did"])
        return records

    def _device(self, record: dict[str, Any]) -> CloudDevice | None:
        did = str(record.get("did", ""))
        if not did:
            return None
        ble_key = None
        if "blt" in did:
            with_key = self.call("/v2/device/blt_get_beaconkey", {"did": did, "pdid": 1})
            if isinstance(with_key, dict) and isinstance(with_key.get("beaconkey"), str):
                ble_key = with_key["beaconkey"]
        return CloudDevice(did, str(record.get("name", "")), str(record.get("model", "")),
                           str(record.get("token", "")), _text(record.get("localip")),
                           _text(record.get("mac")), self.region,
                           _text(record.get("parent_id")), ble_key)


def _list(value: Any, key: str) -> list[Any]:
    items = value.get(key) if isinstance(value, dict) else None
    return items if isinstance(items, list) else []


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None
