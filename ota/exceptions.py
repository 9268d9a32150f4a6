"""Every error the OTA layer raises on purpose, in one shallow tree.

    OtaError
    ├── MalformedDocument   not a document of this spec: size, JSON, canonical form, a field
    ├── SignatureError      the signatures do not authorise the document for a role
    │   ├── BadSignature        a signature by one of the role's keys does not verify (tampering)
    │   └── ThresholdNotMet     all verify, but fewer distinct keys of the role than its threshold
    ├── Expired             freeze: the document's (or the trusted root's) expiry has passed
    ├── Rollback            the offered version is older than the installed one (or the same)
    ├── VersionGap          a new root skips versions: the ones between must be applied first
    ├── WrongTarget         the release is for another hardware kind or model
    ├── LengthMismatch      endless data (a byte past the signed length) or a truncated artifact
    ├── HashMismatch        the artifact's sha256 is not the signed one
    └── KeyFileError        a private key file is missing, unreadable, exposed or not Ed25519

Written in the MicroPython subset (no dataclasses, no typing imports, no __future__) because the
device modules in ota/device/ raise these too. Every error carries its facts as attributes.
"""


class OtaError(Exception):
    """Base of every error the OTA layer raises on purpose."""


class MalformedDocument(OtaError):
    """The bytes are not a document of this spec; ``reason`` says which rule they break."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__("malformed document: " + reason)


class SignatureError(OtaError):
    """The document lacks a threshold of valid signatures by distinct keys of ``role``.

    ``root_version`` names the root whose keys were applied (in a root rotation both the trusted
    root's and the new root's keys must sign). ``valid`` and ``invalid`` list the role's key ids
    whose signature did and did not verify; signatures by other keys are not counted.
    """

    _what = "signatures insufficient"

    def __init__(self, *, role: str, root_version: int, threshold: int, valid: list, invalid: list) -> None:
        self.role = role
        self.root_version = root_version
        self.threshold = threshold
        self.valid = valid
        self.invalid = invalid
        super().__init__(
            f"{self._what}: {role} role of root v{root_version} needs {threshold} valid signature(s), "
            f"has {len(valid)} ({len(invalid)} failed to verify)"
        )


class BadSignature(SignatureError):
    """A signature by a key of the role does not verify: the document was altered or mis-signed."""

    _what = "bad signature"


class ThresholdNotMet(SignatureError):
    """Every signature by the role's keys verifies, but there are too few of them."""

    _what = "threshold not met"


class Expired(OtaError):
    """Freeze attack defence: metadata whose ``expires`` (Unix seconds) is at or before ``now``."""

    def __init__(self, *, role: str, version: int, expires: int, now: int) -> None:
        self.role = role
        self.version = version
        self.expires = expires
        self.now = now
        super().__init__(f"{role} v{version} expired at {expires} (now {now})")


class Rollback(OtaError):
    """Rollback attack defence: ``offered`` is older than ``installed`` (or equal, unless allowed)."""

    def __init__(self, *, role: str, offered: int, installed: int) -> None:
        self.role = role
        self.offered = offered
        self.installed = installed
        super().__init__(f"{role} v{offered} refused: v{installed} is installed")


class VersionGap(OtaError):
    """A new root must be exactly one version above the trusted one; ``offered`` skips some."""

    def __init__(self, *, offered: int, expected: int) -> None:
        self.offered = offered
        self.expected = expected
        super().__init__(
            f"root v{offered} refused: the next root is v{expected} (apply the roots in between)"
        )


class WrongTarget(OtaError):
    """The release is signed for another hardware kind or model than the device's."""

    def __init__(self, *, hardware: str, model: str, offered_hardware: str, offered_model: str) -> None:
        self.hardware = hardware
        self.model = model
        self.offered_hardware = offered_hardware
        self.offered_model = offered_model
        super().__init__(
            f"release is for {offered_hardware}/{offered_model}, this device is {hardware}/{model}"
        )


class LengthMismatch(OtaError):
    """The artifact is longer (``received`` > ``expected``, refused at once) or shorter than signed."""

    def __init__(self, *, expected: int, received: int) -> None:
        self.expected = expected
        self.received = received
        more = "at least " if received > expected else ""
        super().__init__(f"artifact length: signed {expected} bytes, got {more}{received}")


class HashMismatch(OtaError):
    """The artifact's sha256 (hex) is not the signed one."""

    def __init__(self, *, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(f"artifact sha256 {actual}, signed {expected}")


class KeyFileError(OtaError):
    """A private key file cannot be used (signing side only)."""

    def __init__(self, *, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"key file {path}: {reason}")
