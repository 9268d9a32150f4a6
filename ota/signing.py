"""The signer's side of ota/SPEC.md: build root and release documents and add signatures.

Threshold signing is a relay: one key holder creates a document (signed by their keys or none),
the others each add their signature to the file with ``sign``; documents carry no private data.
Every document is validated with the device's own parser before a key touches it, so nothing
is ever signed that a device would refuse to parse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ota.device import canonical
from ota.device.metadata import Release, Role, Root, key_id, parse_document
from ota.exceptions import MalformedDocument
from ota.keys import SigningKey


def document(signed: Root | Release) -> bytes:
    """An unsigned document for ``signed``, validated as ``sign`` validates."""
    return sign(_envelope(signed.to_signed(), {}), ())


def make_root(*, version: int, expires: int, roles: Mapping[str, tuple[Iterable[bytes], int]]) -> Root:
    """A root whose ``roles`` map a role name to (its public keys, its threshold)."""
    keys: dict[str, bytes] = {}
    specs = {}
    for name, (publics, threshold) in roles.items():
        ids = []
        for public in publics:
            keys[key_id(public)] = public
            ids.append(key_id(public))
        specs[name] = Role(tuple(ids), threshold)
    root = Root(version=version, expires=expires, keys=keys, roles=specs)
    return Root.from_signed(root.to_signed())  # the device's own validation (thresholds, roles)


def sign(data: bytes, keys: Iterable[SigningKey]) -> bytes:
    """``data`` with a signature by each of ``keys`` added (replacing an older one by that key)."""
    signed, signatures, signed_bytes = parse_document(data)
    kind = signed.get("_type")
    if kind == "root":
        Root.from_signed(signed)
    elif kind == "release":
        Release.from_signed(signed)
    else:
        raise MalformedDocument(f"signed._type {kind!r} is neither 'root' nor 'release'")
    for key in keys:
        signatures[key.keyid] = key.sign(signed_bytes)
    return _envelope(signed, signatures)


def _envelope(signed: dict, signatures: dict[str, bytes]) -> bytes:
    data = canonical.encode(
        {
            "signed": signed,
            "signatures": [{"keyid": k, "sig": signatures[k].hex()} for k in sorted(signatures)],
        }
    )
    parse_document(data)
    return data
