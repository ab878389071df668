"""The floor: the least a miIO codec can do in Python (struct + hashlib + cryptography).

Its output is byte-identical to pymiio's; it exists only to measure pymiio against.
"""

from __future__ import annotations

import hashlib
import json
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HEAD = struct.Struct(">HHIII")
_dumps = json.JSONEncoder(separators=(",", ":")).encode  # built once, as any lean client would


class FloorCodec:
    def __init__(self, token: bytes) -> None:
        self.token = token
        key = hashlib.md5(token).digest()
        self.cipher = Cipher(algorithms.AES(key), modes.CBC(hashlib.md5(key + token).digest()))

    def build(self, did: int, stamp: int, payload: bytes) -> bytes:
        pad = 16 - len(payload) % 16
        enc = self.cipher.encryptor()
        data = enc.update(payload + bytes((pad,)) * pad) + enc.finalize()
        head = HEAD.pack(0x2131, 32 + len(data), 0, did, stamp)
        return head + hashlib.md5(head + self.token + data).digest() + data

    def parse(self, packet: bytes) -> object:
        if hashlib.md5(packet[:16] + self.token + packet[32:]).digest() != packet[16:32]:
            raise ValueError("checksum")
        dec = self.cipher.decryptor()
        plain = dec.update(packet[32:]) + dec.finalize()
        return json.loads(plain[:-plain[-1]])


class FloorClient:
    """The floor codec over a plain blocking socket: one handshake, then request/reply."""

    def __init__(self, host: str, token: bytes, port: int = 54321) -> None:
        import socket

        self.codec = FloorCodec(token)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect((host, port))
        self.sock.settimeout(2)
        self.sock.send(HELLO)
        reply = self.sock.recv(64)
        _, _, _, self.did, self.stamp = HEAD.unpack_from(reply)
        self.next_id = 1

    def call(self, method: str, params: list[object]) -> object:
        self.next_id += 1
        payload = _dumps({"id": self.next_id, "method": method, "params": params}).encode()
        self.sock.send(self.codec.build(self.did, self.stamp, payload))
        return self.codec.parse(self.sock.recv(4096))

    def close(self) -> None:
        self.sock.close()


HELLO = bytes.fromhex("21310020" + "ff" * 28)
