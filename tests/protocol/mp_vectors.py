# Runs protocol test vectors through protocol.codec and prints one JSON line per case:
#   {"name": ..., "fields": {v, type, device, boot, seq, ts, body}, "roundtrip": true|false,
#    "into": true|false}   (encode_into wrote the bytes encode returned)
#   {"name": ..., "error": "<ProtocolError code>"}
#   {"name": ..., "crash": "<exception>"}   anything but a ProtocolError: a codec bug
# The test suite compares the lines with the vectors' expectations; this script judges nothing.
#
# usage: MICROPYPATH=<repo root> micropython -X heapsize=100K mp_vectors.py VECTORS.json
# Written for MicroPython (runs under CPython too). Streams the file one case per line, as SPEC.md
# section 10 lays it out, so that the heap holds one case at a time.
import binascii
import gc
import json
import sys

from protocol.codec import decode, encode, encode_into
from protocol.errors import ProtocolError

_FIELDS = ("v", "type", "device", "boot", "seq", "ts", "body")


def payload_of(case):
    data = binascii.unhexlify(case["payload_hex"]) if "payload_hex" in case else case["payload"].encode()
    size = case.get("pad_to", 0)
    if size > len(data):
        # One buffer of the final size: b" " * n would need a second copy of it.
        buf = bytearray(size)
        buf[0 : len(data)] = data
        for i in range(len(data), size):
            buf[i] = 32
        data = buf
    return data


def run(case):
    result = {"name": case["name"]}
    try:
        msg = decode(payload_of(case), case["topic"])
    except ProtocolError as err:
        result["error"] = err.code
        return result
    except Exception as exc:  # the one thing this script exists to catch: report, do not judge
        result["crash"] = repr(exc)
        return result
    result["fields"] = {name: getattr(msg, name) for name in _FIELDS}
    try:
        data = encode(msg)
        result["roundtrip"] = decode(data, case["topic"]) == msg
        buf = bytearray(len(data))
        data = data == buf[: encode_into(msg, buf)]
        result["into"] = data
    except Exception as exc:
        result["crash"] = "round trip: " + repr(exc)
    return result


def main(path):
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.endswith(","):
                line = line[:-1]
            if line in ("[", "]", ""):
                continue
            case = json.loads(line)
            line = None
            case.pop("expect", None)  # the test suite compares; the heap is better spent on decoding
            gc.collect()
            print(json.dumps(run(case)))
            case = None


main(sys.argv[1])
