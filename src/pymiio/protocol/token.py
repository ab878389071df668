"""Device tokens and the AES-128-CBC cipher derived from them.

A token is the only secret of miIO: key = MD5(token), iv = MD5(key + token). Deriving the cipher
costs more than a small packet's encryption, so each Token derives it once, on first use, and
keeps it.

Decryption uses CBC's definition directly, P[i] = AES-decrypt(C[i]) XOR C[i-1] with C[-1] = iv:
one kept ECB context (behind a lock: one Token serves every device object with that token,
and threads) decrypts every block at once and a single integer XOR chains them. Making
a CBC context per packet (the only way to restart CBC at the fixed iv) costs three times the
decryption itself. Encryption cannot be done that way without a Python loop per block
(each block's input depends on the previous output), so it makes a CBC context per packet.
"""

from __future__ import annotations

import hashlib
import re
import threading
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC, ECB

from pymiio.errors import PayloadError, TokenError

_Kept = tuple[CipherContext, threading.Lock]  # a kept context and the lock that guards it
_HEX32: Final = re.compile(r"[0-9a-fA-F]{32}")
_HIDDEN: Final = (bytes(16), b"\xff" * 16)


class Token:
    """A 128-bit device token with its cached cipher material.

    Its ``repr`` and ``str`` are masked so that a token never lands in a log by accident;
    ``.hex`` gives the full value when the user asks for it.
    """

    __slots__ = ("_blocks", "_cipher", "iv", "key", "raw")

    def __init__(self, value: str | bytes | Token) -> None:
        if isinstance(value, Token):
            raw = value.raw
        elif isinstance(value, bytes | bytearray):
            if len(value) != 16:
                raise TokenError(f"a token is 16 bytes, got {len(value)}")
            raw = bytes(value)
        elif isinstance(value, str):
            text = value.strip()
            if not _HEX32.fullmatch(text):
                raise TokenError(
                    f"a token is 32 hexadecimal characters, got {_describe(text)}")
            raw = bytes.fromhex(text)
        else:
            raise TokenError(f"a token is a hex string or 16 bytes, not {type(value).__name__}")
        self.raw: bytes = raw
        self.key: bytes = hashlib.md5(raw).digest()
        self.iv: bytes = hashlib.md5(self.key + raw).digest()
        self._cipher: Cipher[CBC] | None = None  # made on first use: a token read from a
        # hello reply or an inventory is often never used to encrypt anything
        self._blocks: _Kept | None = None  # ECB decryption, kept (see the module)

    @property
    def hex(self) -> str:
        """The full token as 32 lower-case hex characters (a secret: show only on request)."""
        return self.raw.hex()

    @property
    def masked(self) -> str:
        """First and last four hex digits, safe for logs and tables: ``2b00…33cf``."""
        text = self.raw.hex()
        return f"{text[:4]}…{text[-4:]}"

    @property
    def is_hidden(self) -> bool:
        """True for all-zero / all-ff tokens, the placeholders of devices that hide theirs."""
        return self.raw in _HIDDEN

    def encrypt(self, plaintext: bytes) -> bytes:
        """AES-128-CBC with PKCS#7 padding."""
        pad = 16 - len(plaintext) % 16
        enc = (self._cipher or self._make_cipher()).encryptor()
        return enc.update(plaintext + bytes((pad,)) * pad) + enc.finalize()

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Inverse of :meth:`encrypt`; bad length or padding raises PayloadError."""
        if not ciphertext or len(ciphertext) % 16:
            raise PayloadError(
                f"encrypted data must be a non-empty multiple of 16 bytes, got {len(ciphertext)}",
                ciphertext)
        size = len(ciphertext)
        context, lock = self._blocks or self._make_blocks()
        with lock:  # one thread at a time: the context refuses a second ("Already borrowed")
            blocks = context.update(ciphertext)  # whole blocks only: ECB keeps no state
            # between calls, so the one context serves every packet
        chain = int.from_bytes(self.iv + ciphertext[:-16])  # C[i-1] under each block
        plain = (int.from_bytes(blocks) ^ chain).to_bytes(size)
        pad = plain[-1]
        if not 1 <= pad <= 16 or plain[-pad:] != bytes((pad,)) * pad:
            raise PayloadError("bad PKCS#7 padding after decryption", ciphertext)
        return plain[:-pad]

    def _make_blocks(self) -> _Kept:
        self._blocks = kept = (Cipher(AES(self.key), ECB()).decryptor(), threading.Lock())
        return kept

    def _make_cipher(self) -> Cipher[CBC]:
        self._cipher = Cipher(AES(self.key), CBC(self.iv))
        return self._cipher

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Token) and other.raw == self.raw

    def __hash__(self) -> int:
        return hash(self.raw)

    def __reduce__(self) -> tuple[type[Token], tuple[bytes]]:
        """Copies and pickles carry the raw token only; the cipher material is derived again
        (its contexts and lock cannot be copied)."""
        return Token, (self.raw,)

    def __repr__(self) -> str:
        return f"Token({self.masked})"

    __str__ = __repr__


def is_hidden_token(raw: bytes) -> bool:
    """True when 16 bytes are the all-0 / all-ff placeholder a device sends instead of its token."""
    return raw in _HIDDEN


def _describe(text: str) -> str:
    """Say what is wrong with a token string without echoing a possibly secret value."""
    if len(text) != 32:
        return f"{len(text)} characters"
    return "characters that are not hexadecimal"


_TOKEN_IN_TEXT: Final = re.compile(r"(?i)\b([0-9a-f]{4})[0-9a-f]{24}([0-9a-f]{4})\b")


def mask_tokens(text: str) -> str:
    """Mask every 32-hex-digit run in ``text`` (tokens in JSON or hex) to ``abcd…wxyz``.

    Every preview of device data that can reach a user goes through here: a ``miIO.info``
    reply or a broken payload may carry the token in clear.
    """
    return _TOKEN_IN_TEXT.sub(r"\1…\2", text)
