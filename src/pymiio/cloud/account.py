"""Logging in to a Xiaomi account: password (``serviceLogin`` → ``serviceLoginAuth2`` → the
STS ``location``), with the captcha and identity-verification rounds Xiaomi asks for since
2025, or a QR code confirmed in the Mi Home app. Answers come from an :class:`Asker` (the
terminal, or standard input line by line when it is not a terminal).

The account side defaults to ``https://account.xiaomi.com``; ``PYMIIO_CLOUD_ACCOUNT_URL``
overrides it (tests point it at a stand-in on loopback). Secrets (the password, ``ssecurity``,
``serviceToken``, ``passToken``) are never printed or logged.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urljoin

import httpx

from pymiio.errors import CloudError

DEFAULT_ACCOUNT_URL = "https://account.xiaomi.com"
PREFIX = "&&&START&&&"
TIMEOUT = 15.0
MEANINGS = {70016: "wrong user name or password (or Xiaomi blocked this login for now)",
            87001: "the captcha answer is wrong", 70014: "the verification code is wrong or "
            "expired", 70022: "too many verification codes today: try again tomorrow",
            20003: "the credentials were refused", 70002: "the credentials were refused",
            81003: "Xiaomi wants the login verified"}


class Asker(Protocol):
    """Where answers come from: ``ask`` a question (``secret`` hides the typing)."""

    def ask(self, question: str, secret: bool = False) -> str: ...

    def tell(self, text: str) -> None: ...


@dataclass
class CloudLogin:
    """What a login gives: enough to sign API calls."""

    user_id: str
    ssecurity: str = field(repr=False)
    service_token: str = field(repr=False)
    pass_token: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "ssecurity": self.ssecurity,
                "service_token": self.service_token, "pass_token": self.pass_token}


def account_url() -> str:
    return (os.environ.get("PYMIIO_CLOUD_ACCOUNT_URL") or DEFAULT_ACCOUNT_URL).rstrip("/")


def parse(response: httpx.Response) -> dict[str, Any]:
    """An account answer: JSON behind the ``&&&START&&&`` prefix."""
    text = response.text
    if text.startswith(PREFIX):
        text = text[len(PREFIX):]
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise CloudError(f"the account server answered HTTP {response.status_code} with "
                         "something that is not JSON") from None
    if not isinstance(value, dict):
        raise CloudError("the account server answered with an unexpected shape")
    return value


def refusal(answer: dict[str, Any], what: str) -> CloudError:
    code = answer.get("code")
    meaning = MEANINGS.get(code) if type(code) is int else None
    text = meaning or str(answer.get("description") or answer.get("desc") or "refused")
    return CloudError(f"{what}: {text} (Xiaomi code {code})")


def _client() -> httpx.Client:
    agent = "Android-7.1.1-1.0.0-ONEPLUS A3010-136-" + "".join(
        random.choices("ABCDE", k=13)) + " APP/xiaomi.smarthome APPV/62830"
    client = httpx.Client(timeout=TIMEOUT, follow_redirects=True,
                          headers={"User-Agent": agent})
    device = "".join(random.choices(string.ascii_lowercase, k=6))
    for domain in ("mi.com", "xiaomi.com", "127.0.0.1", "localhost"):
        client.cookies.set("sdkVersion", "accountsdk-18.8.15", domain=domain)
        client.cookies.set("deviceId", device, domain=domain)
    return client


def password_login(username: str, password: str, asker: Asker,
                   captcha_folder: Path) -> CloudLogin:
    """The password flow, answering captchas and identity checks through ``asker``."""
    base = account_url()
    with _client() as client:
        client.cookies.set("userId", username)
        step1 = parse(client.get(f"{base}/pass/serviceLogin",
                                 params={"sid": "xiaomiio", "_json": "true"}))
        form = {"sid": "xiaomiio", "hash": hashlib.md5(password.encode()).hexdigest().upper(),
                "callback": "https://sts.api.io.mi.com/sts",
                "qs": "%3Fsid%3Dxiaomiio%26_json%3Dtrue", "user": username,
                "_sign": str(step1.get("_sign", "")), "_json": "true"}
        answer = parse(client.post(f"{base}/pass/serviceLoginAuth2", data=form))
        for _ in range(5):  # captcha rounds
            if not answer.get("captchaUrl"):
                break
            form["captCode"] = _captcha(client, base, str(answer["captchaUrl"]), asker,
                                        captcha_folder)
            answer = parse(client.post(f"{base}/pass/serviceLoginAuth2", data=form,
                                       params={"_dc": str(int(time.time() * 1000))}))
            if answer.get("code") == 87001 and not answer.get("captchaUrl"):
                raise refusal(answer, "login failed")
        if answer.get("notificationUrl") and not answer.get("location"):
            return _identity(client, base, str(answer["notificationUrl"]), asker)
        return _finish(client, answer, "login failed")


def _finish(client: httpx.Client, answer: dict[str, Any], what: str) -> CloudLogin:
    if answer.get("code", 0) != 0 or not answer.get("location") or not answer.get("ssecurity"):
        raise refusal(answer, what)
    location = str(answer["location"])
    client.get(location)  # the STS sets serviceToken
    token = _cookie(client, "serviceToken")
    if not token:
        raise CloudError(f"{what}: Xiaomi did not hand out a service token")
    return CloudLogin(str(answer.get("userId", "")), str(answer["ssecurity"]), token,
                   str(answer["passToken"]) if answer.get("passToken") else None)


def _cookie(client: httpx.Client, name: str) -> str | None:
    for cookie in client.cookies.jar:
        if cookie.name == name and cookie.value:
            return cookie.value
    return None


def _captcha(client: httpx.Client, base: str, url: str, asker: Asker, folder: Path) -> str:
    """Save the captcha image (mode 0600), say where, and read the answer."""
    response = client.get(urljoin(base + "/", url))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "xiaomi-captcha.jpg"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(response.content[:1024 * 1024])
    asker.tell(f"Xiaomi asks for a captcha: open {path} and type the characters you see")
    return asker.ask("captcha").strip()


def _identity(client: httpx.Client, base: str, notification: str, asker: Asker) -> CloudLogin:
    """Identity verification: a code by e-mail (flag 8) or SMS (flag 4), whichever the
    account offers, read from ``asker``."""
    from urllib.parse import parse_qs, urlparse

    client.get(urljoin(base + "/", notification))
    context = parse_qs(urlparse(notification).query).get("context", [""])[0]
    options = parse(client.get(f"{base}/identity/list",
                               params={"sid": "xiaomiio", "context": context}))
    offered = options.get("options") or [options.get("flag")]
    flag = 8 if 8 in offered else 4 if 4 in offered else None
    if flag is None:
        raise CloudError("Xiaomi wants the login verified in a way pymiio cannot do here; log "
                         "in once on account.xiaomi.com from this network, or use --qr")
    kind, verify = ("EmailTicket", "verifyEmail") if flag == 8 else ("PhoneTicket",
                                                                      "verifyPhone")
    sent = parse(client.post(f"{base}/identity/auth/send{kind}",
                             params={"_dc": str(int(time.time() * 1000)), "sid": "xiaomiio",
                                     "context": context, "mask": "0"},
                             data={"retry": "0", "icode": "", "_json": "true"}))
    if sent.get("code", 0) != 0:
        raise refusal(sent, "the verification code could not be sent")
    where = "e-mail" if flag == 8 else "SMS"
    asker.tell(f"Xiaomi sent a verification code by {where}")
    code = asker.ask("verification code").strip()
    checked = parse(client.post(f"{base}/identity/auth/{verify}",
                                params={"_flag": str(flag), "_json": "true"},
                                data={"ticket": code, "trust": "false", "_json": "true"}))
    if checked.get("code", 0) != 0 or not checked.get("location"):
        raise refusal(checked, "verification failed")
    finish = parse(client.get(urljoin(base + "/", str(checked["location"]))))
    return _finish(client, finish, "verification failed")


def qr_login(asker: Asker, show: Callable[[str], None],
             countdown: Callable[[float], None]) -> CloudLogin:
    """Show the login QR, then wait (long polling, with a countdown) for the app's OK."""
    base = account_url()
    with _client() as client:
        start = parse(client.get(f"{base}/longPolling/loginUrl",
                                 params={"sid": "xiaomiio", "_json": "true",
                                         "qs": "%3Fsid%3Dxiaomiio%26_json%3Dtrue",
                                         "callback": "https://sts.api.io.mi.com/sts"}))
        login_url, poll = start.get("loginUrl"), start.get("lp")
        if not isinstance(login_url, str) or not isinstance(poll, str):
            raise refusal(start, "the QR login could not start")
        show(login_url)
        limit = float(start.get("timeout") or 300)
        deadline = time.monotonic() + min(limit, 600)
        while (left := deadline - time.monotonic()) > 0:
            countdown(left)
            try:
                answer = parse(client.get(poll, timeout=min(left, 60.0)))
            except httpx.TimeoutException:
                continue
            if answer.get("code", 0) == 0 and answer.get("location"):
                return _finish(client, answer, "QR login failed")
            if answer.get("code") not in (0, 700):  # 700: not scanned yet
                raise refusal(answer, "QR login failed")
        raise CloudError("the QR code was not confirmed in time; run the command again")
