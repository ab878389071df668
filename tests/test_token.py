import hashlib

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st

from pymiio import Token, TokenError
from pymiio.errors import PayloadError

from .conftest import TOKEN


def test_key_and_iv_follow_the_protocol() -> None:
    token = Token(TOKEN)
    raw = bytes.fromhex(TOKEN)
    assert token.key == hashlib.md5(raw).digest()
    assert token.iv == hashlib.md5(hashlib.md5(raw).digest() + raw).digest()
    assert token.hex == TOKEN


def test_masked_and_repr_never_show_the_whole_token() -> None:
    token = Token(TOKEN.upper())
    assert token.masked == "2b00…33cf"
    assert TOKEN not in repr(token) and TOKEN not in str(token)


@pytest.mark.parametrize("value", ["0" * 32, "f" * 32, "F" * 32])
def test_placeholders_are_hidden(value: str) -> None:
    assert Token(value).is_hidden
    assert not Token(TOKEN).is_hidden


@pytest.mark.parametrize(("value", "fragment"), [
    ("abc", "32 hexadecimal characters, got 3 characters"),
    ("z" * 32, "not hexadecimal"),
    ("", "got 0 characters"),
    (b"short", "16 bytes"),
])
def test_bad_tokens_say_what_is_wrong(value: str | bytes, fragment: str) -> None:
    with pytest.raises(TokenError, match=fragment):
        Token(value)


def test_bad_token_message_does_not_echo_the_value() -> None:
    secret = "x" + TOKEN[1:]
    with pytest.raises(TokenError) as info:
        Token(secret)
    assert secret not in str(info.value)


@given(st.binary(min_size=16, max_size=16), st.binary(max_size=600))
def test_encrypt_decrypt_round_trip(raw: bytes, plaintext: bytes) -> None:
    token = Token(raw)
    cipher = token.encrypt(plaintext)
    assert len(cipher) % 16 == 0 and len(cipher) > len(plaintext)
    assert token.decrypt(cipher) == plaintext


@given(st.binary(min_size=16, max_size=16), st.integers(1, 40).flatmap(
    lambda blocks: st.binary(min_size=16 * blocks, max_size=16 * blocks)))
def test_decryption_is_aes_cbc_at_the_token_iv(raw: bytes, ciphertext: bytes) -> None:
    """Decryption chains ECB blocks by hand (see pymiio.protocol.token); it must equal
    cryptography's own CBC on any whole-block input, padding check aside."""
    token = Token(raw)
    context = Cipher(algorithms.AES(token.key), modes.CBC(token.iv)).decryptor()
    plain = context.update(ciphertext) + context.finalize()
    pad = plain[-1]
    if 1 <= pad <= 16 and plain[-pad:] == bytes((pad,)) * pad:
        assert token.decrypt(ciphertext) == plain[:-pad]
    else:
        with pytest.raises(PayloadError, match="padding"):
            token.decrypt(ciphertext)
    assert token.decrypt(token.encrypt(plain)) == plain  # the kept context has no leftovers


def test_bad_padding_and_length_are_payload_errors() -> None:
    token = Token(TOKEN)
    with pytest.raises(PayloadError, match="multiple of 16"):
        token.decrypt(b"x" * 15)
    with pytest.raises(PayloadError, match="padding"):
        token.decrypt(Token("00" * 15 + "01").encrypt(b"hello world, 123"))


def test_one_token_decrypts_in_many_threads_at_once() -> None:
    """The kept ECB context is shared by every user of a Token (``token_of`` hands the same
    Token to every device object with that token, and ``Device`` may run in threads): a
    second thread must not find it busy ("Already borrowed")."""
    import os
    import threading

    token = Token(TOKEN)
    messages = [os.urandom(size) for size in (1, 100, 5000, 20000)]
    sealed = [token.encrypt(message) for message in messages]
    failures: list[str] = []

    def work() -> None:
        try:
            for _ in range(300):
                for message, ciphertext in zip(messages, sealed, strict=True):
                    assert token.decrypt(ciphertext) == message
        except Exception as exc:  # collected: an exception in a thread would be lost
            failures.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []


def test_a_used_token_can_be_copied() -> None:
    import copy

    token = Token(TOKEN)
    sealed = token.encrypt(b"hello")
    assert token.decrypt(sealed) == b"hello"  # its kept context and lock now exist
    twin = copy.deepcopy(token)
    assert twin == token and twin.decrypt(sealed) == b"hello"
