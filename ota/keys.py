"""Ed25519 keys on the signing side, over ``cryptography`` (CPython only).

Private keys never leave the signer's files: PKCS#8 PEM created exclusively (never overwriting)
with mode 0600, and refused at load time when group or others may read them, as ssh does. The
public half travels as 64 hex digits; its key id is ``ota.device.metadata.key_id``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ota.device.metadata import key_id
from ota.exceptions import KeyFileError


def verify(public: bytes, signature: bytes, message: bytes) -> bool:
    """The Ed25519 primitive ``TrustedRoot`` takes, on CPython: ``cryptography`` (OpenSSL)."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


class SigningKey:
    """A private Ed25519 key held by one signer."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.keyid = key_id(self.public)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load(cls, path: Path) -> SigningKey:
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeyFileError(
                    path=str(path),
                    reason=f"group or others can access it (mode {stat.S_IMODE(mode):03o}); "
                    f"run: chmod 600 {path}",
                )
            private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as e:
            raise KeyFileError(path=str(path), reason=e.strerror or str(e)) from e
        except (ValueError, TypeError) as e:
            raise KeyFileError(path=str(path), reason=f"not an unencrypted PEM private key ({e})") from e
        if not isinstance(private, Ed25519PrivateKey):
            raise KeyFileError(path=str(path), reason="not an Ed25519 key")
        return cls(private)

    def save(self, path: Path) -> None:
        """Write the key to a new file readable by its owner only; an existing file is never replaced."""
        pem = self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as e:
            raise KeyFileError(path=str(path), reason=e.strerror or str(e)) from e
        with os.fdopen(fd, "wb") as f:
            os.fchmod(fd, 0o600)  # the umask can only narrow 0600, but be explicit
            f.write(pem)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)
