# Small JSON documents (and signed documents as received, bytes) in flash
# files, replaced atomically (write a temporary file, then rename: LittleFS
# renames are atomic).
import json
import os


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save(path, obj):
    # bytes as they are, anything else as JSON
    tmp = path + ".tmp"
    raw = isinstance(obj, bytes)
    with open(tmp, "wb" if raw else "w") as f:
        if raw:
            f.write(obj)
        else:
            json.dump(obj, f)
    os.rename(tmp, path)


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def makedirs(path):
    try:
        os.mkdir(path)
    except OSError:
        pass


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def free_bytes(path="."):
    st = os.statvfs(path)
    return st[0] * st[4]
