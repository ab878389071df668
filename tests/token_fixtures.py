"""Token-source fixtures built by the tests: databases, backups, preferences, cache files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import plistlib
import sqlite3
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC, ECB
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

DEVICES = [
    {"name": "Kitchen plug", "model": "chuangmi.plug.m1", "ip": "192.0.2.10",
     "mac": "78:11:DC:00:00:01", "did": "67108865", "token": "2b00042f7481c7b056c4b410d28f33cf"},
    {"name": "Vacuum", "model": "roborock.vacuum.s5", "ip": "192.0.2.11",
     "mac": "78:11:DC:00:00:02", "did": "67108866", "token": "00112233445566778899aabbccddeeff"},
]


def miio2_db(with_tokens: bool = True) -> bytes:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE devicerecord (did TEXT, name TEXT, model TEXT, localIP TEXT, "
                "mac TEXT, token TEXT, ssid TEXT)")
    for d in DEVICES:
        con.execute("INSERT INTO devicerecord VALUES (?,?,?,?,?,?,?)",
                    (d["did"], d["name"], d["model"], d["ip"], d["mac"],
                     d["token"] if with_tokens else "", "home"))
    con.commit()
    return con.serialize()


def encrypt_ztoken(token: str) -> str:
    """How newer iOS Mi Home versions store a token: AES-128-ECB, zero key, PKCS#7."""
    data = token.encode() + bytes([16]) * 16
    encryptor = Cipher(AES(bytes(16)), ECB()).encryptor()
    return (encryptor.update(data) + encryptor.finalize()).hex()


def ios_sqlite(encrypted: bool = True) -> bytes:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE ZDEVICE (Z_PK INTEGER, ZDID TEXT, ZNAME TEXT, ZMODEL TEXT, "
                "ZLOCALIP TEXT, ZMAC TEXT, ZTOKEN TEXT)")
    for index, d in enumerate(DEVICES):
        token = encrypt_ztoken(d["token"]) if encrypted and index == 0 else d["token"]
        con.execute("INSERT INTO ZDEVICE VALUES (?,?,?,?,?,?,?)",
                    (index, d["did"], d["name"], d["model"], d["ip"], d["mac"], token))
    con.commit()
    return con.serialize()


def ios_backup(folder: Path, *, encrypted: bool = False, with_app: bool = True) -> Path:
    folder.mkdir(parents=True)
    relative = "Documents/1234567_mihome.sqlite"
    file_id = hashlib.sha1(f"AppDomain-com.xiaomi.mihome-{relative}".encode()).hexdigest()
    manifest = sqlite3.connect(folder / "Manifest.db")
    manifest.execute("CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, "
                     "relativePath TEXT, flags INTEGER, file BLOB)")
    manifest.execute("INSERT INTO Files VALUES (?,?,?,?,?)",
                     ("0" * 40, "HomeDomain", "Library/Preferences/x.plist", 1, b""))
    if with_app:
        manifest.execute("INSERT INTO Files VALUES (?,?,?,?,?)",
                         (file_id, "AppDomain-com.xiaomi.mihome", relative, 1, b""))
        (folder / file_id[:2]).mkdir()
        (folder / file_id[:2] / file_id).write_bytes(ios_sqlite())
    manifest.commit()
    manifest.close()
    (folder / "Manifest.plist").write_bytes(plistlib.dumps({"IsEncrypted": encrypted}))
    return folder


def yeelight_xml() -> bytes:
    entries = [{"localip": d["ip"], "mac": d["mac"], "model": d["model"], "name": d["name"],
                "token": d["token"], "did": d["did"]} for d in DEVICES]
    value = json.dumps(entries).replace("&", "&amp;").replace('"', "&quot;")
    return (b"<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map>\n"
            + f'    <string name="device_list">{value}</string>\n'.encode()
            + b'    <boolean name="first_start" value="false" />\n</map>\n')


def cache_folder(folder: Path) -> Path:
    (folder / "smrc4-cache" / "a").mkdir(parents=True)
    body = {"result": {"list": [{"did": d["did"], "token": d["token"], "name": d["name"],
                                 "model": d["model"], "localip": d["ip"]} for d in DEVICES]}}
    (folder / "smrc4-cache" / "a" / "device_list").write_text("\x00\x01garbage" + json.dumps(body))
    (folder / "smrc4-cache" / "other").write_bytes(os.urandom(2048))
    return folder


def tar_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


MEMBERS = {"apps/com.xiaomi.smarthome/_manifest": b"manifest",
           "apps/com.xiaomi.smarthome/db/miio2.db": miio2_db(),
           "apps/com.yeelight.cherry/sp/miot.xml": yeelight_xml()}


def _pbkdf2(secret: bytes, salt: bytes, rounds: int) -> bytes:
    return PBKDF2HMAC(hashes.SHA1(), 32, salt, rounds).derive(secret)


def _cbc(key: bytes, iv: bytes, data: bytes) -> bytes:
    pad = 16 - len(data) % 16
    encryptor = Cipher(AES(key), CBC(iv)).encryptor()
    return encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()


def android_backup(members: dict[str, bytes] | None = None, *, version: int = 5,
                   compressed: bool = True, password: str | None = None,
                   master_key: bytes | None = None) -> bytes:
    """An adb backup written from the format description (PROTOCOL.md §8)."""
    body = tar_bytes(MEMBERS if members is None else members)
    if compressed:
        body = zlib.compress(body)
    header = f"ANDROID BACKUP\n{version}\n{int(compressed)}\n"
    if password is None:
        return (header + "none\n").encode() + body
    rounds = 10000
    user_salt, ck_salt, user_iv, master_iv = (os.urandom(64), os.urandom(64), os.urandom(16),
                                              os.urandom(16))
    key = master_key or os.urandom(32)
    java = "".join(chr(b if b < 0x80 else 0xFF00 | b) for b in key).encode()
    checksum = _pbkdf2(key if version == 1 else java, ck_salt, rounds)
    blob = bytes([16]) + master_iv + bytes([32]) + key + bytes([32]) + checksum
    user_key = _pbkdf2(password.encode(), user_salt, rounds)
    lines = [user_salt.hex().upper(), ck_salt.hex().upper(), str(rounds),
             user_iv.hex().upper(), _cbc(user_key, user_iv, blob).hex().upper()]
    return (header + "AES-256\n" + "\n".join(lines) + "\n").encode() + _cbc(key, master_iv, body)


PEER_WRITER = """
import os, pickle, sys
from android_backup.android_backup import AndroidBackup, CompressionType, EncryptionType
target, source, pickled, version, compressed, password = sys.argv[1:]
ab = AndroidBackup()
ab.version = int(version)
ab.compression = CompressionType(int(compressed))
ab.encryption = EncryptionType.AES256 if password else EncryptionType.NONE
ab.pack(target, source_dir=source, password=password or None, pickle_fname=pickled)
"""


def peer_backup(tmp: Path, *, version: int, compressed: bool, password: str | None) -> Path:
    """A backup written by the independent android-backup package (in its own process: its
    ``pack`` changes the working directory)."""
    source = tmp / "unpacked"
    members = []
    for name, data in MEMBERS.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
        info = tarfile.TarInfo(name)
        info.size = len(data)
        members.append(info)
    pickled = tmp / "members.pickle"
    pickled.write_bytes(pickle.dumps(members))
    target = tmp / f"peer-v{version}-{int(compressed)}-{bool(password)}.ab"
    subprocess.run([sys.executable, "-c", PEER_WRITER, str(target), str(source), str(pickled),
                    str(version), str(int(compressed)), password or ""], check=True,
                   cwd=tmp, timeout=120)
    return target
