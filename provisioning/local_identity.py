"""The device's key pair and CSR, made where the device is provisioned (never sent to the cloud).

Files in the device's state directory: ``device.key`` (0600), ``device.csr``, and after registration
``device.crt`` and ``ca.crt``. Made once; repeating the step keeps the key (a new key would orphan a
certificate already issued for the old one).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cloud.identity.credentials import DeviceKey
from provisioning.state import DeviceState, fingerprint


def ensure_key(state: DeviceState) -> DeviceKey:
    key_path = state.directory / "device.key"
    if key_path.exists():
        key = DeviceKey.from_pem(key_path.read_bytes(), state.device_id)
    else:
        key = DeviceKey.generate(state.device_id)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.key_pem)
    (state.directory / "device.csr").write_bytes(key.csr_pem)
    if not state.done("keygen"):
        state.mark("keygen", fingerprint(key.csr_pem))
    return key


# What the ESP32 reads: DER, because MicroPython's mbedtls build may lack PEM parsing (the unix port's
# does: "invalid cert" for the same certificate in PEM). Names as device.json gives them (mqtt.ca/cert/key).
BOARD_NAMES = {"key": "device.key.der", "cert": "device.der", "ca": "ca.der"}


def board_files(state: DeviceState) -> dict[str, Path]:
    """The identity files in DER for the board, written beside the PEM ones (``esp32/``)."""
    out = state.directory / "esp32"
    out.mkdir(exist_ok=True)
    files = {}
    for name, pem_path in credential_files(state).items():
        pem = pem_path.read_bytes()
        if name == "key":
            key = serialization.load_pem_private_key(pem, password=None)
            der = key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        else:
            der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
        path = out / BOARD_NAMES[name]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(der)
        files[name] = path
    return files


def credential_files(state: DeviceState) -> dict[str, Path]:
    """The identity files that exist now: key always (after keygen), cert and CA once registered."""
    names = {"key": "device.key", "cert": "device.crt", "ca": "ca.crt"}
    return {k: state.directory / v for k, v in names.items() if (state.directory / v).exists()}
