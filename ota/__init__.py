"""Signed updates (ota/SPEC.md): metadata against TUF's attacks, Ed25519, threshold keys, rotation.

    exceptions   the one error tree (MicroPython subset: devices raise these too)
    device/      the verifying side, in the subset MicroPython and CPython run (see its docstring)
    keys         Ed25519 private keys in the signer's files; ``verify`` over ``cryptography``
    signing      build root and release documents, add signatures (threshold signing)
    cli          ``mobilytics-ota``: keygen, sign, verify, root init|rotate

Nothing is imported here: the ESP32 imports this package on its way to ota.device and must not
pull in the CPython-only modules.
"""
