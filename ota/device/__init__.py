"""The verifying side of OTA, in the subset both MicroPython and CPython run.

The ESP32 firmware bundle ships these modules (with ota/__init__.py and ota/exceptions.py); the Pi
agent, the cloud and the CLI import the same ones, so every check is written once. What differs is
passed in: the Ed25519 primitive (``ota.device.ed25519.verify`` on the ESP32, ``ota.keys.verify``
over ``cryptography`` on CPython), the current time and the device's facts. No I/O happens here.

    canonical   the bytes signatures cover
    metadata    Root, Role, Release, TrustedRoot, verify_release: the checks a device trusts
    artifact    ArtifactVerifier (streamed length and sha256) and the resume journal
    ed25519     signature verification (RFC 8032) for interpreters without ``cryptography``
    sha512      SHA-512, which MicroPython's hashlib lacks and Ed25519 needs
"""
