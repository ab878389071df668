"""The app API's request signing and RC4 encryption (the "RC4 mode" every current tool uses).
Pure: bytes and strings in, strings out.

Per request: a nonce (8 random bytes and the minutes since the epoch), a signed nonce
(SHA-256 of ssecurity and nonce), ``rc4_hash__`` (SHA-1 over method, path, params and signed
nonce), every param RC4-encrypted (key: the signed nonce, first 1,024 keystream bytes dropped),
and ``signature`` (the same SHA-1 over the encrypted params). The answer is RC4-encrypted the
same way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Mapping
from typing import Any

from pymiio.errors import CloudError


def nonce(random_bytes: bytes | None = None, now: float | None = None) -> str:
    minutes = int((time.time() if now is None else now) * 1000) // 60000
    raw = (random_bytes if random_bytes is not None else os.urandom(8)) + minutes.to_bytes(
        4, "big")
    return base64.b64encode(raw).decode()


def signed_nonce(ssecurity: str, nonce_text: str) -> str:
    digest = hashlib.sha256(base64.b64decode(ssecurity) + base64.b64decode(nonce_text))
    return base64.b64encode(digest.digest()).decode()


def sha1_signature(method: str, path: str, params: Mapping[str, str], signed: str) -> str:
    parts = [method.upper(), path, *[f"{k}={v}" for k, v in params.items()], signed]
    return base64.b64encode(hashlib.sha1("&".join(parts).encode()).digest()).decode()


def rc4(key: bytes, data: bytes) -> bytes:
    """RC4 with the first 1,024 keystream bytes dropped (cryptography's ``decrepit`` ARC4
    where OpenSSL's legacy provider has it, else a few lines of Python: payloads are small)."""
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
        from cryptography.hazmat.primitives.ciphers import Cipher

        encryptor = Cipher(ARC4(key), mode=None).encryptor()
        encryptor.update(bytes(1024))
        return encryptor.update(data) + encryptor.finalize()
    except Exception:  # no decrepit module, or no legacy provider: the plain algorithm
        return _rc4_python(key, data)


def _rc4_python(key: bytes, data: bytes) -> bytes:
    box = list(range(256))
    j = 0
    for i in range(256):
        j = (j + box[i] + key[i % len(key)]) % 256
        box[i], box[j] = box[j], box[i]
    i = j = 0
    out = bytearray()
    for position in range(1024 + len(data)):
        i = (i + 1) % 256
        j = (j + box[i]) % 256
        box[i], box[j] = box[j], box[i]
        if position >= 1024:
            out.append(data[position - 1024] ^ box[(box[i] + box[j]) % 256])
    return bytes(out)


def encrypt_params(method: str, path: str, params: Mapping[str, str], ssecurity: str,
                   nonce_text: str) -> dict[str, str]:
    """The form to POST: encrypted params, ``rc4_hash__``, ``signature``, ``ssecurity``,
    ``_nonce``."""
    signed = signed_nonce(ssecurity, nonce_text)
    key = base64.b64decode(signed)
    plain = {**params, "rc4_hash__": sha1_signature(method, path, params, signed)}
    encrypted = {k: base64.b64encode(rc4(key, v.encode())).decode() for k, v in plain.items()}
    return {**encrypted, "signature": sha1_signature(method, path, encrypted, signed),
            "ssecurity": ssecurity, "_nonce": nonce_text}


def decrypt_response(body: str | bytes, ssecurity: str, nonce_text: str) -> Any:
    """The JSON of an encrypted answer; CloudError when it does not decrypt to JSON."""
    key = base64.b64decode(signed_nonce(ssecurity, nonce_text))
    try:
        plain = rc4(key, base64.b64decode(body, validate=True))
        return json.loads(plain.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise CloudError("the cloud answered something that does not decrypt to JSON "
                         "(an expired session or a proxy in the way?)") from None
