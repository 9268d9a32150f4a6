"""Field syntax shared by the envelope and the bodies: integer ranges, string syntaxes, free-form JSON.

Each ``*_field`` check reads one key of a decoded JSON object, returns its value (None when an optional
key is absent) and raises ProtocolError naming the field path. Field paths are only built on the error
path, so a valid message pays for no string formatting.

The list and enum checks are in uplink.py: only device -> cloud bodies have lists and closed sets of
values, and a device, which decodes downlink bodies only, should not hold them in its heap.

Why no ``re``: MicroPython's ``re`` has no counted repetition ({m,n}), and ``str.strip(charset) == ""``
("every character is in the set") is a C loop on both interpreters.
"""

from protocol.errors import BAD_FIELD, MISSING_FIELD, TOO_LARGE, ProtocolError

INT31 = 2147483647  # counters and sequence numbers: fit a signed 32-bit column in every database
INT53 = 9007199254740991  # timestamps and byte counts: exact in every JSON parser, JavaScript included

HEX = "0123456789abcdef"
# Character sets are written out rather than concatenated from named parts: each module-level name is
# a qstr a device keeps for good, and the qstr table's growth is what a 100 KB heap feels first.
# Printable ASCII without space (33..126): URLs must arrive already percent-encoded. Written out, not
# built with chr(): on MicroPython chr() interns each character as a qstr (77 of them, for good).
_URL_CHARS = (
    "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
)

# A string syntax: (what it is called in reasons, allowed characters or None for any,
# allowed first characters or None for any, minimum length, maximum length).
BOOT_ID = ("8 to 32 lowercase hex characters", HEX, None, 8, 32)
SHA256 = ("64 lowercase hex characters", HEX, None, 64, 64)
TOKEN = (
    "a token of 1 to 32 characters [a-z0-9_-] starting with [a-z0-9]",
    "abcdefghijklmnopqrstuvwxyz0123456789_-",
    "abcdefghijklmnopqrstuvwxyz0123456789",
    1,
    32,
)
IDENT = (
    "an id of 1 to 64 characters [A-Za-z0-9_.:-] starting with [A-Za-z0-9]",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    1,
    64,
)
VERSION = (
    "a version of 1 to 32 characters [A-Za-z0-9_.+-] starting with [A-Za-z0-9]",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-",
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    1,
    32,
)
TEXT = ("a string of 1 to 200 characters", None, None, 1, 200)
FIELD_PATH = ("a string of 1 to 64 characters", None, None, 1, 64)
TOPIC_TEXT = ("a string of 1 to 256 characters", None, None, 1, 256)
URL = ("an http:// or https:// URL of at most 512 printable ASCII characters", _URL_CHARS, None, 8, 512)

MAX_DEPTH = 8  # nesting of free-form objects (config, args, result), the object itself being level 1
MAX_CONFIG_KEYS = 128  # keys of a config or a command result
MAX_ARGS_KEYS = 32  # keys of command arguments, an error's ref, a rejected config's error

ABSENT = object()  # what get() gives for an optional key that is not there


def path_of(where, key):
    """``where`` + ``key`` as a field path: ``seq`` in the envelope, ``body.seq`` below it."""
    return where + "." + key if where else key


def get(obj, key, where, required):
    """obj[key]; a missing required key raises missing_field, a missing optional one gives ABSENT."""
    value = obj.get(key, ABSENT)
    if value is ABSENT and required:
        field = path_of(where, key)
        raise ProtocolError(MISSING_FIELD, field + " is required", field)
    return value


def bad(field, what):
    """The bad_field error for ``field``: ``what`` completes "<field> must be ..."."""
    return ProtocolError(BAD_FIELD, field + " must be " + what, field)


def int_field(obj, key, lo, hi, where="body", required=True):
    value = get(obj, key, where, required)
    if value is ABSENT:
        return None
    # type() and not isinstance(): JSON true/false are bools, which CPython counts as ints.
    if type(value) is not int or value < lo or value > hi:
        raise bad(path_of(where, key), f"an integer from {lo} to {hi}")
    return value


def matches(value, syntax):
    """Whether ``value`` is a string of ``syntax`` (one of the tuples above)."""
    if type(value) is not str or len(value) < syntax[3] or len(value) > syntax[4]:
        return False
    chars = syntax[1]
    if chars is not None and value.strip(chars):
        return False
    first = syntax[2]
    return first is None or value[0] in first


def check_str(value, syntax, field):
    if not matches(value, syntax):
        raise bad(field, syntax[0])
    return value


def str_field(obj, key, syntax, where="body", required=True):
    value = get(obj, key, where, required)
    if value is ABSENT:
        return None
    return check_str(value, syntax, path_of(where, key))


def url_field(obj, key, where="body"):
    value = str_field(obj, key, URL, where)
    if not (value.startswith("https://") or value.startswith("http://")):
        raise bad(path_of(where, key), URL[0])
    return value


def object_field(obj, key, max_keys, where="body", required=True):
    """A JSON object of at most ``max_keys`` keys; its values are not checked (callers do)."""
    value = get(obj, key, where, required)
    if value is ABSENT:
        return None
    field = path_of(where, key)
    if type(value) is not dict:
        raise bad(field, "an object")
    if len(value) > max_keys:
        raise ProtocolError(TOO_LARGE, f"{field} has {len(value)} keys, at most {max_keys} allowed", field)
    return value


def free_field(obj, key, max_keys, where="body", required=True):
    """A free-form JSON object (config, command arguments, results): plain JSON values only, finite
    numbers, at most MAX_DEPTH levels. The walk matters for encode() on MicroPython, whose json.dumps
    writes sets and bytes as if they were JSON, and keeps both interpreters' verdicts equal on deep input."""
    value = object_field(obj, key, max_keys, where, required)
    if value is not None:
        _walk(value, path_of(where, key), 1)
    return value


def _walk(value, field, depth):
    kind = type(value)
    if kind is dict or kind is list:
        if depth > MAX_DEPTH:
            raise ProtocolError(TOO_LARGE, f"{field} nests deeper than {MAX_DEPTH} levels", field)
        if kind is dict:
            for k in value:
                if type(k) is not str:
                    raise bad(field, "an object with string keys")
                _walk(value[k], field, depth + 1)
        else:
            for item in value:
                _walk(item, field, depth + 1)
    elif kind is float:
        # NaN is the one value unequal to itself; infinities are equal to their double.
        if value != value or (value != 0.0 and value == value * 2):
            raise bad(field, "made of finite numbers")
    elif not (kind is str or kind is int or kind is bool or value is None):
        raise bad(field, "made of JSON values (objects, lists, strings, numbers, true, false, null)")


def config_field(obj, key, required=True):
    """A configuration (config_desired, config_reported): a free-form object whose keys, the setting
    names, are tokens so that they map onto environment variables, columns and NVS keys."""
    config = free_field(obj, key, MAX_CONFIG_KEYS, required=required)
    if config is not None:
        for k in config:
            check_str(k, TOKEN, "body.config key")
    return config
