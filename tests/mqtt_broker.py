"""A Mosquitto broker of the test's own: a free loopback port, a password file, no persistence
(so a restart loses retained messages, as a real one without persistence does)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

USER, PASSWORD = "bridge", "s3cret-pw"


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                          if Path("/usr/sbin/mosquitto").exists() else None)
    if found is None:
        pytest.skip("mosquitto is not installed (make test installs it where apt is usable)")
    return found


class Broker:
    def __init__(self, folder: Path) -> None:
        self.binary = mosquitto_binary()
        # Started as root, mosquitto drops to its own user: its files must be readable to it
        # (a hashed test password, nothing secret), so they live in a folder of their own.
        folder = Path(tempfile.mkdtemp(prefix="pymiio-broker-"))
        folder.chmod(0o755)
        self.folder = folder
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        passwords = folder / "passwd"
        passwords.write_text("")
        subprocess.run([shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd", "-b",
                        str(passwords), USER, PASSWORD], check=True, capture_output=True)
        passwords.chmod(0o644)
        self.config = folder / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous false\n"
                               f"password_file {passwords}\npersistence false\n")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{USER}:{PASSWORD}@127.0.0.1:{self.port}"

    def start(self) -> Broker:
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.process.poll() is not None:
                error = self.process.stderr.read() if self.process.stderr else b""
                raise RuntimeError(f"mosquitto did not start: {error.decode()}")
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not start within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
