"""Logging in to a Xiaomi account: password (``serviceLogin`` → ``serviceLoginAuth2`` → the
STS ``location``), with the captcha and identity-verification rounds Xiaomi asks for since
2025, or a QR code confirmed in the Mi Home app. Answers come from an :class:`Asker` (the
terminal, or standard input line by line when it is not a terminal).

The account side defaults to ``https://account.xiaomi.com``; ``PYMIIO_CLOUD_ACCOUNT_URL``
overrides it (tests point it at a stand-in on loopback). Secrets (the password, ``ssecurity``,
``serviceToken``, ``passToken``) are never printed or logged.

Every request goes through :mod:`pymiio.bounded_http`: an overall deadline each
(``PYMIIO_CLOUD_TIMEOUT``, default 15 s), answers capped, and no automatic redirects: the
user name and password hash are posted to the account host only, and a redirect of the login
form is an error. Redirects are followed only by GETs (the STS hop, the verification chain),
carrying nothing but the cookies of their own hosts. Addresses the server hands out (captcha,
location, long poll) must be http(s); the captcha must be on the account host.
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
from urllib.parse import parse_qs, urljoin, urlparse

from pymiio.bounded_http import Answer, Fetcher, shown
from pymiio.errors import CloudError

DEFAULT_ACCOUNT_URL = "https://account.xiaomi.com"
PREFIX = "&&&START&&&"
TIMEOUT = 15.0
MAX_ANSWER = 4 * 1024 * 1024  # account answers are a few KB; a captcha image well under 1 MB
MAX_CAPTCHA = 1024 * 1024
MAX_HOPS = 10
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
    """What a login gives: enough to sign API calls. ``account`` is the user name the login
    was made with (None for a QR login): a kept login answers only for that account."""

    user_id: str
    ssecurity: str = field(repr=False)
    service_token: str = field(repr=False)
    pass_token: str | None = field(default=None, repr=False)
    account: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "ssecurity": self.ssecurity,
                "service_token": self.service_token, "pass_token": self.pass_token,
                "account": self.account}


def account_url() -> str:
    return (os.environ.get("PYMIIO_CLOUD_ACCOUNT_URL") or DEFAULT_ACCOUNT_URL).rstrip("/")


def timeout() -> float:
    """``PYMIIO_CLOUD_TIMEOUT`` seconds (0.1 to 120) when set, else 15."""
    try:
        value = float(os.environ.get("PYMIIO_CLOUD_TIMEOUT", "") or TIMEOUT)
    except ValueError:
        return TIMEOUT
    return min(max(value, 0.1), 120.0)


def parse(answer: Answer) -> dict[str, Any]:
    """An account answer: JSON behind the ``&&&START&&&`` prefix."""
    if answer.location is not None:
        raise CloudError(f"the account server redirected to {shown(answer.location)} where "
                         "it should have answered")
    text = answer.text
    if text.startswith(PREFIX):
        text = text[len(PREFIX):]
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise CloudError(f"the account server answered HTTP {answer.status} with "
                         "something that is not JSON") from None
    if not isinstance(value, dict):
        raise CloudError("the account server answered with an unexpected shape")
    return value


def refusal(answer: dict[str, Any], what: str) -> CloudError:
    code = answer.get("code")
    meaning = MEANINGS.get(code) if type(code) is int else None
    text = meaning or shown(str(answer.get("description") or answer.get("desc") or "refused"))
    return CloudError(f"{what}: {text} (Xiaomi code {shown(str(code), 20)})")


def _client(base: str) -> Fetcher:
    agent = "Android-7.1.1-1.0.0-ONEPLUS A3010-136-" + "".join(
        random.choices("ABCDE", k=13)) + " APP/xiaomi.smarthome APPV/62830"
    client = Fetcher(CloudError, timeout=timeout(), limit=MAX_ANSWER,
                     headers={"User-Agent": agent}, what="the Xiaomi account server",
                     late=_Late)
    device = "".join(random.choices(string.ascii_lowercase, k=6))
    host = _host(base)
    client.cookies.set("sdkVersion", "accountsdk-18.8.15", domain=host)
    client.cookies.set("deviceId", device, domain=host)
    return client


def _host(url: str) -> str:
    return urlparse(url).hostname or ""


class _Late(CloudError):
    """A request ran past its deadline (a long poll that ended without news)."""


def _text(answer: dict[str, Any], key: str, what: str) -> str:
    """A field the flow needs as text (a number is accepted as Xiaomi sends some)."""
    value = answer.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise CloudError(f"{what}: the account server's answer has no usable {key!r}")
    return str(value)


def password_login(username: str, password: str, asker: Asker,
                   captcha_folder: Path) -> CloudLogin:
    """The password flow, answering captchas and identity checks through ``asker``. The
    form with the user name and the password hash is posted to the account host only."""
    base = account_url()
    with _client(base) as client:
        client.cookies.set("userId", username, domain=_host(base))
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
            form["captCode"] = _captcha(client, base, _text(answer, "captchaUrl", "login"),
                                        asker, captcha_folder)
            answer = parse(client.post(f"{base}/pass/serviceLoginAuth2", data=form,
                                       params={"_dc": str(int(time.time() * 1000))}))
            if answer.get("code") == 87001 and not answer.get("captchaUrl"):
                raise refusal(answer, "login failed")
        if answer.get("notificationUrl") and not answer.get("location"):
            login = _identity(client, base, _text(answer, "notificationUrl", "login"), asker)
        else:
            login = _finish(client, answer, "login failed")
        login.account = username
        return login


def _finish(client: Fetcher, answer: dict[str, Any], what: str) -> CloudLogin:
    """A success answer (``ssecurity``, ``location``): the STS hop hands out serviceToken."""
    if answer.get("code", 0) != 0 or not answer.get("location") or not answer.get("ssecurity"):
        raise refusal(answer, what)
    client.get_following(_text(answer, "location", what), MAX_HOPS)
    return _login(client, what, _text(answer, "ssecurity", what),
                  str(answer.get("userId", "")),
                  str(answer["passToken"]) if answer.get("passToken") else None)


def _login(client: Fetcher, what: str, ssecurity: str, user_id: str,
           pass_token: str | None) -> CloudLogin:
    token = _cookie(client, "serviceToken")
    if not token:
        raise CloudError(f"{what}: Xiaomi did not hand out a service token")
    return CloudLogin(user_id, ssecurity, token, pass_token or _cookie(client, "passToken"))


def _set_cookie(answer: Answer, name: str) -> str | None:
    """The value ``answer`` sets for cookie ``name``, if it sets one."""
    from http.cookies import CookieError, SimpleCookie

    for header in answer.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            continue
        if name in jar and jar[name].value:
            return jar[name].value
    return None


def _cookie(client: Fetcher, name: str) -> str | None:
    for cookie in client.cookies.jar:
        if cookie.name == name and cookie.value:
            return cookie.value
    return None


def _captcha(client: Fetcher, base: str, url: str, asker: Asker, folder: Path) -> str:
    """Save the captcha image (mode 0600), say where, and read the answer. The image must
    come from the account host."""
    target = urljoin(base + "/", url)
    parts = urlparse(target)
    if parts.scheme not in ("http", "https") or parts.hostname != _host(base):
        raise CloudError("login failed: the account server's captcha address is not on the "
                         f"account server: {shown(url)}")
    response = client.get(target, limit=MAX_CAPTCHA)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / "xiaomi-captcha.jpg"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(response.body)
    asker.tell(f"Xiaomi asks for a captcha: open {path} and type the characters you see")
    return asker.ask("captcha").strip()


def _identity(client: Fetcher, base: str, notification: str, asker: Asker) -> CloudLogin:
    """Identity verification: a code by e-mail (flag 8) or SMS (flag 4), whichever the
    account offers, read from ``asker``; then the chain of redirects the verification's
    ``location`` starts, as the real service answers it (research/cloud.md B1.4 step 3):
    redirects ending at the STS, which answers plain text, with ``ssecurity`` in the JSON of
    an ``extension-pragma`` header and ``serviceToken`` as a cookie."""
    client.get(urljoin(base + "/", notification))
    context = parse_qs(urlparse(notification).query).get("context", [""])[0]
    options = parse(client.get(f"{base}/identity/list",
                               params={"sid": "xiaomiio", "context": context}))
    offered = options.get("options")
    offered = offered if isinstance(offered, list) else [options.get("flag")]
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
    found: dict[str, Any] = {}

    def pragma(answer: Answer) -> None:
        user_id = _set_cookie(answer, "userId")
        if user_id:
            found["userId"] = user_id
        header = answer.headers.get("extension-pragma")
        if header:
            try:
                value = json.loads(header)
            except (ValueError, RecursionError):
                raise CloudError("verification failed: the extension-pragma header is not "
                                 "JSON") from None
            if isinstance(value, dict):
                found.update({k: v for k, v in value.items() if k != "userId"})

    last = client.get_following(urljoin(base + "/", _text(checked, "location", "verification")),
                                MAX_HOPS, on_hop=pragma)
    pragma(last)
    if last.status != 200:
        raise CloudError(f"verification failed: the last hop answered HTTP {last.status}")
    if not isinstance(found.get("ssecurity"), str) or not found["ssecurity"]:
        raise CloudError("verification failed: Xiaomi did not hand out ssecurity")
    return _login(client, "verification failed", found["ssecurity"],
                  str(found.get("userId", "")), None)


def qr_login(asker: Asker, show: Callable[[str], None],
             countdown: Callable[[float], None]) -> CloudLogin:
    """Show the login QR, then wait (long polling, with a countdown) for the app's OK."""
    base = account_url()
    with _client(base) as client:
        start = parse(client.get(f"{base}/longPolling/loginUrl",
                                 params={"sid": "xiaomiio", "_json": "true",
                                         "qs": "%3Fsid%3Dxiaomiio%26_json%3Dtrue",
                                         "callback": "https://sts.api.io.mi.com/sts"}))
        login_url, poll = start.get("loginUrl"), start.get("lp")
        if not isinstance(login_url, str) or not isinstance(poll, str):
            raise refusal(start, "the QR login could not start")
        limit = start.get("timeout", 300)
        if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
            raise CloudError("the QR login could not start: the account server's timeout is "
                             f"not a number of seconds: {shown(json.dumps(limit))}")
        show(login_url)
        deadline = time.monotonic() + min(float(limit), 600.0)
        while (left := deadline - time.monotonic()) > 0:
            countdown(left)
            try:
                answer = parse(client.get(poll, timeout=min(left, 60.0)))
            except _Late:
                continue  # a long poll that ended without news
            if answer.get("code", 0) == 0 and answer.get("location"):
                return _finish(client, answer, "QR login failed")
            if answer.get("code") not in (0, 700):  # 700: not scanned yet
                raise refusal(answer, "QR login failed")
        raise CloudError("the QR code was not confirmed in time; run the command again")
