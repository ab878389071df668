"""The one exception hierarchy of pymiio, shared by every layer.

Front ends map each class to a one-line message and an exit code, so the classes follow what a
user must do next (fix the token, check the network, read the device's answer), not where in
the code the problem was found.
"""

from __future__ import annotations

TYPE_CHECKING = False  # the CLIs' --help imports this module: no typing import at run time
if TYPE_CHECKING:
    from typing import Any


class MiioError(Exception):
    """Root of every error pymiio raises on purpose."""


class TokenError(MiioError, ValueError):
    """A token is malformed, missing, or hidden by the device while none was given."""


class ProtocolError(MiioError):
    """Bytes that are not a well-formed miIO packet."""


class ChecksumError(ProtocolError):
    """A packet's MD5 checksum does not match: almost always the wrong token."""


class PayloadError(ProtocolError):
    """A payload that cannot be decrypted or is not the JSON a device sends.

    ``raw`` keeps the undecodable text (or bytes) so that nothing is lost.
    """

    def __init__(self, message: str, raw: str | bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


class DeviceError(MiioError):
    """The device answered with ``{"error": {...}}``."""

    def __init__(self, code: int, message: str, meaning: str | None = None,
                 reply: dict[str, Any] | None = None) -> None:
        text = f"device error {code}: {message}" if message else f"device error {code}"
        if meaning:
            text += f" ({meaning})"
        super().__init__(text)
        self.code = code
        self.message = message
        self.meaning = meaning
        self.reply = reply


class MiioTimeoutError(MiioError, TimeoutError):
    """No usable answer within the deadline."""


class UnreachableError(MiioTimeoutError):
    """The device did not answer the hello handshake at all, or the network refused to send."""


class WrongTokenError(MiioTimeoutError):
    """The device answers hellos but drops our commands: devices do that when the token is wrong."""


class BackupError(MiioError):
    """A backup, database or cache file that cannot be read (corrupt, truncated, unsupported)."""


class WrongPasswordError(BackupError):
    """An encrypted Android backup whose master-key checksum rejects the password."""


class CaptureError(MiioError):
    """A capture file (pcap / pcapng) that cannot be read at all."""


class InventoryError(MiioError):
    """The named-device inventory cannot be read or has no such device."""


class NotRegularFileError(MiioError):
    """A FIFO, device or socket where a file was expected: reading it could block forever."""


class AddressError(MiioError, ValueError):
    """A host that is not a usable address: malformed dotted quad, URL, unknown bare name."""


class ClosedError(MiioError):
    """The device object was closed: pending calls end with this, later calls are refused."""


class UsageError(MiioError, ValueError):
    """A value the caller gave that cannot be sent (bad name, out of range, not writable)."""


class SpecError(MiioError):
    """A device description (MIoT spec, catalogue entry) that cannot be read or fetched, or a
    model nothing describes."""


class CloudError(MiioError):
    """The Xiaomi cloud refused, failed, or answered something unreadable."""


class ExpiredSession(CloudError):
    """The service token is no longer accepted: log in again."""


class BridgeError(MiioError):
    """The bridge cannot run: the broker refused the credentials, bad options."""


class SimulatorError(MiioError):
    """The simulator cannot start as asked (address refused, port taken, bad profile)."""
