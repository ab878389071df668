"""A stand-in for Xiaomi's account server and app API, written for the tests, on a free
loopback port. It checks every API request's signature with its own RC4 and SHA code (not the
client's) and refuses a wrong one. The identity-verification finish is answered as the real
service does (research/cloud.md B1.4 step 3): ``verifyEmail``'s ``location`` starts a chain of
redirects ending at the STS, which answers plain text, with ``ssecurity`` in the JSON of an
``extension-pragma`` header and ``serviceToken`` as a cookie."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlparse

from .hostile_http import endless
from .http_standin import QuietHandler, serving

USER, PASSWORD = "user@example.com", "correct horse"
SSECURITY = base64.b64encode(bytes(range(16))).decode()
SERVICE_TOKEN = "service-token-" + "x" * 40
CAPTCHA, CODE = "K7QX", "123456"
PLUG_TOKEN, GATEWAY_TOKEN, SHARED_TOKEN = ("11" * 16, "22" * 16, "33" * 16)


def _rc4(key: bytes, data: bytes) -> bytes:
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) & 0xFF
        state[i], state[j] = state[j], state[i]
    i = j = 0
    stream = bytearray()
    for _ in range(1024 + len(data)):
        i = (i + 1) & 0xFF
        j = (j + state[i]) & 0xFF
        state[i], state[j] = state[j], state[i]
        stream.append(state[(state[i] + state[j]) & 0xFF])
    return bytes(a ^ b for a, b in zip(data, stream[1024:], strict=True))


def _sha1(method: str, path: str, params: list[tuple[str, str]], signed: str) -> str:
    text = "&".join([method, path, *[f"{k}={v}" for k, v in params], signed])
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()


class CloudServer:
    def __init__(self) -> None:
        # "captcha", "2fa", "rate-limit", "expire", "garbage", "hang-us", "dribble-us", "huge-de",
        # "bad-signature-seen", "redirect-login", "captcha-file", "bad-location", "qr-timeout-list"
        self.mode: set[str] = set()
        self.requests: list[str] = []
        self.elsewhere = ""  # where "redirect-login" sends the login form
        self.sts_base = ""  # the STS's base URL, when it should be another host than ours
        self.cookies_seen: list[tuple[str, str, dict[str, str]]] = []  # (host, path, cookies)
        self.release = threading.Event()
        self.expired_once = False
        self.logins = 0
        self.qr_polls = 0
        self.base = ""

    @contextmanager
    def running(self) -> Iterator[str]:
        with serving(self._handler(), self.release) as base:
            self.base = base
            yield base

    # -- the account side ---------------------------------------------------------------

    def account(self, path: str, query: dict[str, list[str]], form: dict[str, str],
                cookies: dict[str, str]) -> tuple[Any, ...]:
        """(status, body, cookies to set[, extra headers])."""
        if path == "/pass/serviceLogin":
            return 200, {"_sign": "sign-1", "qs": "%3Fsid", "code": 0}, {}
        if path == "/pass/serviceLoginAuth2":
            return self._auth2(form, cookies)
        if path == "/pass/getCode":
            return 200, b"\xff\xd8fake-jpeg", {"ick": "ick-cookie"}
        if path == "/fe/service/identity/authStart":
            return 200, b"<html>verify</html>", {}
        if path == "/identity/list":
            offered = [4] if "sms" in self.mode else [] if "no-way" in self.mode else [8, 4]
            return 200, {"code": 0, "flag": offered[0] if offered else 0,
                         "options": offered}, {"identity_session": "s"}
        if path in ("/identity/auth/sendEmailTicket", "/identity/auth/sendPhoneTicket"):
            return 200, ({"code": 70022} if "rate-limit" in self.mode else {"code": 0}), {}
        if path in ("/identity/auth/verifyEmail", "/identity/auth/verifyPhone"):
            if form.get("ticket") != CODE:
                return 200, {"code": 70014, "desc": "wrong code"}, {}
            return 200, {"code": 0, "location": "/identity/result/check?ok=1"}, {}
        if path == "/identity/result/check":  # the redirect chain to the STS
            return 302, b"", {"passToken": "pass-tok"}, [
                ("Location", "/pass/serviceLoginAuth2/end?ok=1")]
        if path == "/pass/serviceLoginAuth2/end":
            self.logins += 1
            return 302, b"", {"userId": "1001"}, [
                ("Location", f"{self.base}/sts?nonce=2&clientSign=abc")]
        if path == "/sts":  # plain text; ssecurity in the header, serviceToken a cookie
            pragma = json.dumps({"nonce": 2, "ssecurity": SSECURITY, "psecurity": "p"})
            if "pragma-garbage" in self.mode:
                pragma = "{not json"
            elif "no-ssecurity" in self.mode:
                pragma = json.dumps({"nonce": 2})
            return 200, b"ok", {"serviceToken": SERVICE_TOKEN}, [
                ("Content-Type", "text/plain"), ("extension-pragma", pragma)]
        if path == "/longPolling/loginUrl":
            limit: Any = [1] if "qr-timeout-list" in self.mode else 30
            return 200, {"code": 0, "loginUrl": "https://account.xiaomi.com/qr/login?x=1",
                         "qr": f"{self.base}/qr.png", "lp": f"{self.base}/lp",
                         "timeout": limit}, {}
        if path == "/lp":
            if "qr-refused" in self.mode:
                return 200, {"code": 70016, "desc": "refused"}, {}
            self.qr_polls += 1
            return 200, ({"code": 700} if self.qr_polls < 2 else self._success()), {}
        return 404, {"code": 404}, {}

    def _auth2(self, form: dict[str, str], cookies: dict[str, str]) -> tuple[Any, ...]:
        good = form.get("user") == USER and form.get("hash") == hashlib.md5(
            PASSWORD.encode()).hexdigest().upper() and form.get("_sign") == "sign-1"
        if "redirect-login" in self.mode:
            return 307, b"", {}, [("Location", f"{self.elsewhere}/pass/serviceLoginAuth2")]
        if not good:
            return 200, {"code": 70016, "desc": "login failed", "captchaUrl": None}, {}
        if "captcha-file" in self.mode:
            return 200, {"code": 87001, "captchaUrl": "file:///etc/passwd"}, {}
        if "bad-location" in self.mode:
            return 200, {"code": 0, "ssecurity": SSECURITY, "location": "http://[::1"}, {}
        if "captcha" in self.mode and form.get("captCode") != CAPTCHA:
            if "captCode" in form:
                return 200, {"code": 87001, "captchaUrl": None}, {}
            return 200, {"code": 87001, "captchaUrl": "/pass/getCode?icodeType=login"}, {}
        if "2fa" in self.mode:
            return 200, {"code": 0, "location": "", "securityStatus": 16,
                         "notificationUrl": f"{self.base}/fe/service/identity/authStart?"
                                            "sid=xiaomiio&context=ctx-1"}, {}
        return 200, self._success(), {}

    def _success(self) -> dict[str, Any]:
        self.logins += 1
        return {"code": 0, "ssecurity": SSECURITY, "userId": 1001, "passToken": "pass-tok",
                "location": f"{self.sts_base or self.base}/sts?nonce=1", "nonce": 1}

    # -- the app API ------------------------------------------------------------------------

    def api(self, region: str, path: str, form: list[tuple[str, str]],
            cookies: dict[str, str]) -> tuple[int, Any]:
        if region == "us" and "hang-us" in self.mode:
            self.release.wait(30)
            return 500, b""
        fields = dict(form)
        nonce = fields.get("_nonce", "")
        signed = base64.b64encode(hashlib.sha256(base64.b64decode(SSECURITY) +
                                                 base64.b64decode(nonce)).digest()).decode()
        params = [(k, v) for k, v in form if k not in ("signature", "ssecurity", "_nonce")]
        if fields.get("signature") != _sha1("POST", path, params, signed):
            self.mode.add("bad-signature-seen")
            return 200, self._encrypt({"code": 3, "message": "invalid signature"}, signed)
        key = base64.b64decode(signed)
        plain = {k: _rc4(key, base64.b64decode(v)).decode() for k, v in params}
        inner = [(k, v) for k, v in plain.items() if k != "rc4_hash__"]
        if plain.get("rc4_hash__") != _sha1("POST", path, inner, signed):
            return 200, self._encrypt({"code": 3, "message": "invalid signature"}, signed)
        if cookies.get("serviceToken") != SERVICE_TOKEN:
            return 403, b"forbidden"
        if "expire" in self.mode and not self.expired_once:
            self.expired_once = True
            return 200, self._encrypt({"code": 2, "message": "auth err"}, signed)
        if "garbage" in self.mode:
            return 200, b"this is not encrypted"
        return 200, self._encrypt({"code": 0, "message": "ok",
                                   "result": self._result(region, path,
                                                          json.loads(plain["data"]))}, signed)

    def _encrypt(self, value: Any, signed: str) -> bytes:
        return base64.b64encode(_rc4(base64.b64decode(signed), json.dumps(value).encode()))

    def _result(self, region: str, path: str, data: dict[str, Any]) -> Any:
        if path == "/v2/homeroom/gethome":
            homes = [{"id": 501, "name": "Home"}] if region == "de" else []
            return {"homelist": homes}
        if path == "/v2/user/get_device_cnt":
            shared = [{"home_id": 777, "home_owner": 2002}] if region == "cn" else []
            return {"share": {"share_family": shared}}
        if path == "/v2/home/home_device_list":
            return self._page(data)
        if path == "/v2/device/blt_get_beaconkey":
            return {"beaconkey": "ab" * 12}
        return {}

    def _page(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["home_id"] == 501:
            return {"has_more": False, "device_info": [
                {"did": "120001", "name": "Kitchen plug", "model": "chuangmi.plug.m1",
                 "token": PLUG_TOKEN, "localip": "127.0.55.1", "mac": "78:11:00:00:00:01"},
                {"did": "blt.3.abcdef", "name": "Thermometer", "model": "lywsd03mmc",
                 "token": "", "mac": "A4:C1:00:00:00:02"},
                {"did": "120002", "name": "Gateway", "model": "lumi.gateway.v3",
                 "token": GATEWAY_TOKEN, "localip": "127.0.55.2"},
                {"did": "lumi.158d0001", "name": "Door", "model": "lumi.sensor_magnet.v2",
                 "token": "", "parent_id": "120002"}]}
        # the shared home: two pages
        if not data.get("start_did"):
            return {"has_more": True, "max_did": "130001", "device_info": [
                {"did": "130001", "name": "Shared lamp", "model": "yeelink.light.color1",
                 "token": SHARED_TOKEN, "localip": "127.0.55.3"}]}
        return {"has_more": False, "device_info": [
            {"did": "130002", "name": "Shared fan", "model": "dmaker.fan.p9",
             "token": "44" * 16, "localip": "127.0.55.4"}]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                self._serve({})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self._serve(parse_qsl(self.rfile.read(length).decode(),
                                      keep_blank_values=True))

            def _serve(self, form: list[tuple[str, str]]) -> None:
                owner.requests.append(self.path)
                url = urlparse(self.path)
                cookies = dict(part.strip().split("=", 1) for part in self.headers.get(
                    "Cookie", "").split(";") if "=" in part)
                owner.cookies_seen.append((self.headers.get("Host", ""), url.path, cookies))
                parts = url.path.split("/")
                if len(parts) > 3 and parts[2] == "app":
                    if parts[1] == "us" and "dribble-us" in owner.mode:
                        self._dribble()
                        return
                    if parts[1] == "de" and "huge-de" in owner.mode:
                        endless(600)(self)  # 600 MB, streamed
                        return
                    status, body = owner.api(parts[1], "/" + "/".join(parts[3:]), form,
                                             cookies)
                    self._send(status, body, {})
                    return
                status, body, set_cookies, *extra = owner.account(
                    url.path, parse_qs(url.query), dict(form), cookies)
                self._send(status, body, set_cookies, extra[0] if extra else [])

            def _send(self, status: int, body: Any, set_cookies: dict[str, str],
                      headers: list[tuple[str, str]] | None = None) -> None:
                raw = body if isinstance(body, bytes) else (
                    "&&&START&&&" + json.dumps(body)).encode()
                self.send_body(status, raw, [("Set-Cookie", f"{k}={v}; Path=/")
                                             for k, v in set_cookies.items()] + (headers or []))

            def _dribble(self) -> None:
                """200 spaces, one every 0.2 s: 40 s for a client without a deadline."""
                self.send_response(200)
                self.send_header("Content-Length", "200")
                self.end_headers()
                try:
                    for _ in range(200):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        if owner.release.wait(0.2):
                            return
                except OSError:
                    pass

        return Handler
