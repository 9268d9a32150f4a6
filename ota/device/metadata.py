"""The spec's nouns (Role, Root, Release) and the checks that make a device trust a release.

A document is ``{"signed": {...}, "signatures": [{"keyid": ..., "sig": ...}]}``; signatures cover
the canonical JSON of ``signed`` (ota/SPEC.md). ``TrustedRoot`` plays python-tuf's
TrustedMetadataSet: it starts from a root the device already trusts, accepts a new root only when
the old root's threshold and the new root's own threshold sign it, and authenticates releases with
the release role's keys. Everything is a function of its inputs (bytes, ``now`` in Unix seconds,
the device's facts); the Ed25519 primitive ``verify(public, signature, message) -> bool`` is
passed in. Errors are the typed ones of ota.exceptions, never another exception, for any bytes.
"""

import binascii
import hashlib
import json

from ota.device import canonical
from ota.exceptions import (
    BadSignature,
    Expired,
    MalformedDocument,
    Rollback,
    ThresholdNotMet,
    VersionGap,
    WrongTarget,
)

SPEC_VERSION = 1
# Bigger documents are refused before parsing: a root with dozens of keys is ~5 KiB.
MAX_DOCUMENT_BYTES = 16384
HARDWARE = ("esp32", "rpi")
ROLES = ("root", "release")


def key_id(public: bytes) -> str:
    """A key's id: the lower-case hex sha256 of its 32 raw public bytes (so ids cannot alias keys)."""
    return binascii.hexlify(hashlib.sha256(public).digest()).decode()


def _get(obj, name, kind, where):
    if not isinstance(obj, dict) or name not in obj:
        raise MalformedDocument(f"{where}.{name} is missing")
    value = obj[name]
    # MicroPython's bool is not an int subclass, CPython's is: refuse booleans on both.
    if not isinstance(value, kind) or value is True or value is False:
        raise MalformedDocument(f"{where}.{name} must be a {kind.__name__}")
    return value


def _count(obj, name, where, low):
    value = _get(obj, name, int, where)
    if value < low:
        raise MalformedDocument(f"{where}.{name} must be at least {low}")
    return value


def _text(obj, name, where):
    value = _get(obj, name, str, where)
    if not value or len(value) > 64:
        raise MalformedDocument(f"{where}.{name} must be 1 to 64 characters")
    return value


def _hex(obj, name, where, size):
    value = _get(obj, name, str, where)
    try:
        raw = binascii.unhexlify(value)
    except ValueError:
        raw = b""
    if len(raw) != size or binascii.hexlify(raw).decode() != value:
        raise MalformedDocument(f"{where}.{name} must be {2 * size} lower-case hex digits")
    return raw


def _header(signed, kind):
    where = "signed"
    if _get(signed, "_type", str, where) != kind:
        raise MalformedDocument(f"signed._type must be {kind!r}")
    if _get(signed, "spec_version", int, where) != SPEC_VERSION:
        raise MalformedDocument(f"signed.spec_version must be {SPEC_VERSION}")
    return _count(signed, "version", where, 1), _count(signed, "expires", where, 0)


class Role:
    """The keys allowed to sign for a role and how many of them must (``threshold``)."""

    def __init__(self, keyids: tuple, threshold: int) -> None:
        self.keyids = keyids
        self.threshold = threshold

    def to_dict(self) -> dict:
        return {"keyids": list(self.keyids), "threshold": self.threshold}


class Root:
    """The trust anchor: the Ed25519 keys (key id -> 32 public bytes) and who signs each role."""

    def __init__(self, *, version: int, expires: int, keys: dict, roles: dict) -> None:
        self.version = version
        self.expires = expires
        self.keys = keys
        self.roles = roles

    @classmethod
    def from_signed(cls, signed) -> "Root":
        version, expires = _header(signed, "root")
        keys = {}
        for keyid, key in _get(signed, "keys", dict, "signed").items():
            where = "signed.keys." + keyid
            if _get(key, "keytype", str, where) != "ed25519":
                raise MalformedDocument(where + ".keytype must be 'ed25519'")
            public = _hex(key, "public", where, 32)
            if key_id(public) != keyid:
                raise MalformedDocument(where + " is not the sha256 of its public key")
            keys[keyid] = public
        roles = {}
        for name in ROLES:
            where = "signed.roles." + name
            spec = _get(_get(signed, "roles", dict, "signed"), name, dict, "signed.roles")
            keyids = _get(spec, "keyids", list, where)
            for keyid in keyids:
                if not isinstance(keyid, str) or keyid not in keys:
                    raise MalformedDocument(f"{where} names key {keyid!r} that is not in signed.keys")
            if len(set(keyids)) != len(keyids):
                raise MalformedDocument(where + ".keyids repeats a key")
            threshold = _count(spec, "threshold", where, 1)
            if threshold > len(keyids):
                raise MalformedDocument(f"{where}.threshold {threshold} exceeds its {len(keyids)} keys")
            roles[name] = Role(tuple(keyids), threshold)
        return cls(version=version, expires=expires, keys=keys, roles=roles)

    def to_signed(self) -> dict:
        keys = {}
        for keyid, public in self.keys.items():
            keys[keyid] = {"keytype": "ed25519", "public": binascii.hexlify(public).decode()}
        return {
            "_type": "root",
            "spec_version": SPEC_VERSION,
            "version": self.version,
            "expires": self.expires,
            "keys": keys,
            "roles": {name: role.to_dict() for name, role in self.roles.items()},
        }


class Release:
    """One signed document binding a version to an artifact (sha256, length) and a hardware target.

    Because every fact sits under the same signatures, none can be mixed with another release's
    (mix-and-match). ``version`` is a monotonic integer: a total order with nothing to parse.
    """

    def __init__(
        self, *, version: int, expires: int, hardware: str, model: str, length: int, sha256: str
    ) -> None:
        self.version = version
        self.expires = expires
        self.hardware = hardware
        self.model = model
        self.length = length
        self.sha256 = sha256

    @classmethod
    def from_signed(cls, signed) -> "Release":
        version, expires = _header(signed, "release")
        target = _get(signed, "target", dict, "signed")
        hardware = _get(target, "hardware", str, "signed.target")
        if hardware not in HARDWARE:
            raise MalformedDocument("signed.target.hardware must be one of " + ", ".join(HARDWARE))
        artifact = _get(signed, "artifact", dict, "signed")
        _hex(artifact, "sha256", "signed.artifact", 32)
        return cls(
            version=version,
            expires=expires,
            hardware=hardware,
            model=_text(target, "model", "signed.target"),
            length=_count(artifact, "length", "signed.artifact", 1),
            sha256=artifact["sha256"],
        )

    def to_signed(self) -> dict:
        return {
            "_type": "release",
            "spec_version": SPEC_VERSION,
            "version": self.version,
            "expires": self.expires,
            "target": {"hardware": self.hardware, "model": self.model},
            "artifact": {"length": self.length, "sha256": self.sha256},
        }

    def check_target(self, hardware: str, model: str) -> None:
        """WrongTarget unless the release is for exactly this hardware kind and model."""
        if hardware != self.hardware or model != self.model:
            raise WrongTarget(
                hardware=hardware, model=model, offered_hardware=self.hardware, offered_model=self.model
            )

    def check_version(self, installed_version: int, allow_reinstall: bool = False) -> None:
        """Rollback when older than installed, or equal unless a reinstall was explicitly asked for."""
        if self.version < installed_version or (self.version == installed_version and not allow_reinstall):
            raise Rollback(role="release", offered=self.version, installed=installed_version)


def parse_document(data: bytes) -> tuple:
    """(signed value, {key id: 64-byte signature}, canonical bytes of signed) of a document."""
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedDocument("a document is bytes")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise MalformedDocument(f"{len(data)} bytes exceed the {MAX_DOCUMENT_BYTES}-byte limit")
    try:
        doc = json.loads(str(data, "utf-8"))
    except (ValueError, RuntimeError) as e:  # RuntimeError: recursion depth (both interpreters)
        raise MalformedDocument(f"not UTF-8 JSON ({e})") from None
    signed = _get(doc, "signed", dict, "document")
    signatures = {}
    for i, entry in enumerate(_get(doc, "signatures", list, "document")):
        where = f"signatures[{i}]"
        keyid = _get(entry, "keyid", str, where)
        if keyid in signatures:
            raise MalformedDocument(f"{where} repeats key {keyid}")
        signatures[keyid] = _hex(entry, "sig", where, 64)
    return signed, signatures, canonical.encode(signed)


def check_signatures(root: Root, role: str, signed_bytes: bytes, signatures: dict, verify) -> None:
    """SignatureError unless ``threshold`` distinct keys of ``root``'s ``role`` signed the bytes.

    Stops verifying once the threshold is met: each verification costs ~0.3 s on an ESP32.
    """
    spec = root.roles[role]
    valid = []
    invalid = []
    for keyid in spec.keyids:
        if keyid in signatures:
            if verify(root.keys[keyid], signatures[keyid], signed_bytes):
                valid.append(keyid)
                if len(valid) >= spec.threshold:
                    return
            else:
                invalid.append(keyid)
    error = BadSignature if invalid else ThresholdNotMet
    raise error(role=role, root_version=root.version, threshold=spec.threshold, valid=valid, invalid=invalid)


class TrustedRoot:
    """A root the device trusts, and the only way to trust anything else.

    ``verify(public, signature, message) -> bool`` is the Ed25519 primitive of the interpreter.
    """

    def __init__(self, root: Root, verify) -> None:
        self.root = root
        self._verify = verify

    @classmethod
    def from_bytes(cls, data: bytes, verify) -> "TrustedRoot":
        """Load the trust anchor the device was given (flashed or installed), checking its own
        threshold so a damaged copy is refused. Expiry is not checked here (python-tuf does the
        same): an expired anchor can still accept its successor; releases check it."""
        signed, signatures, signed_bytes = parse_document(data)
        root = Root.from_signed(signed)
        check_signatures(root, "root", signed_bytes, signatures, verify)
        return cls(root, verify)

    def update(self, data: bytes) -> "TrustedRoot":
        """The next root (key rotation), trusted when the current root's threshold and its own
        sign it and its version is exactly one more; apply a chain of roots one by one."""
        signed, signatures, signed_bytes = parse_document(data)
        new = Root.from_signed(signed)
        check_signatures(self.root, "root", signed_bytes, signatures, self._verify)
        if new.version <= self.root.version:
            raise Rollback(role="root", offered=new.version, installed=self.root.version)
        if new.version != self.root.version + 1:
            raise VersionGap(offered=new.version, expected=self.root.version + 1)
        check_signatures(new, "root", signed_bytes, signatures, self._verify)
        return TrustedRoot(new, self._verify)

    def authenticate_release(self, data: bytes, *, now: int) -> Release:
        """The release in ``data`` if the release role signed it and neither it nor this root has
        expired at ``now`` (Unix seconds). Target and version are the caller's to check."""
        if now >= self.root.expires:
            raise Expired(role="root", version=self.root.version, expires=self.root.expires, now=now)
        signed, signatures, signed_bytes = parse_document(data)
        release = Release.from_signed(signed)
        check_signatures(self.root, "release", signed_bytes, signatures, self._verify)
        if now >= release.expires:
            raise Expired(role="release", version=release.version, expires=release.expires, now=now)
        return release


def verify_release(
    root: TrustedRoot,
    data: bytes,
    *,
    now: int,
    installed_version: int,
    hardware: str,
    model: str,
    allow_reinstall: bool = False,
) -> Release:
    """Everything a device checks before downloading: signatures (threshold), expiry, target and
    rollback. The artifact itself is then checked while streaming (ota.device.artifact)."""
    release = root.authenticate_release(data, now=now)
    release.check_target(hardware, model)
    release.check_version(installed_version, allow_reinstall)
    return release
