"""Checks of the bodies that travel cloud -> device (SPEC.md, "Bodies": config_desired, ota_offer, cmd,
error), one per type, keyed by type name.

Apart from the uplink checks so that a device, which decodes only these, loads only these: the codec
imports each direction's module on first use (see codec._check_body). A check validates the keys it
knows and leaves the others alone: unknown keys are how minor versions add fields.
"""

from protocol.fields import (
    BOOT_ID,
    FIELD_PATH,
    IDENT,
    INT31,
    INT53,
    MAX_ARGS_KEYS,
    SHA256,
    TEXT,
    TOKEN,
    TOPIC_TEXT,
    VERSION,
    config_field,
    free_field,
    int_field,
    object_field,
    str_field,
    url_field,
)


def _config_desired(b):
    int_field(b, "version", 0, INT31)
    config_field(b, "config")


def _ota_offer(b):
    str_field(b, "job", IDENT)
    str_field(b, "version", VERSION)
    url_field(b, "url")
    str_field(b, "sha256", SHA256)
    int_field(b, "length", 1, INT31)
    url_field(b, "metadata")


def _cmd(b):
    str_field(b, "id", IDENT)
    str_field(b, "name", TOKEN)
    free_field(b, "args", MAX_ARGS_KEYS, required=False)
    int_field(b, "expires", 0, INT53, required=False)


def _error(b):
    str_field(b, "code", TOKEN)
    str_field(b, "reason", TEXT)
    str_field(b, "field", FIELD_PATH, required=False)
    ref = object_field(b, "ref", MAX_ARGS_KEYS, required=False)
    if ref is not None:
        str_field(ref, "topic", TOPIC_TEXT, "body.ref", required=False)
        int_field(ref, "seq", 0, INT31, "body.ref", required=False)
        str_field(ref, "boot", BOOT_ID, "body.ref", required=False)


CHECKS = {
    "config_desired": _config_desired,
    "ota_offer": _ota_offer,
    "cmd": _cmd,
    "error": _error,
}
