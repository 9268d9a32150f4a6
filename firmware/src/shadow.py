# Config shadow: the cloud's desired config (retained on config/desired) is
# validated as a whole, applied and kept in flash, and reported back with its
# version; an invalid document is rejected with the reason and changes
# nothing. Keys this firmware does not know are ignored (and listed).
import flash

_PATH = "config.json"

# key -> (min, max, default); all values are ints.
SCHEMA = {
    "heartbeat_s": (5, 3600, 60),
    "batch_s": (1, 3600, 60),
    "batch_max": (1, 64, 32),
    "scan_ms": (500, 60000, 5000),
    "rssi_floor": (-127, 0, -100),
    "rotation_s": (60, 604800, 86400),
}

APPLIED = "applied"
REJECTED = "rejected"


class Invalid(Exception):
    pass


def defaults():
    return {k: SCHEMA[k][2] for k in SCHEMA}


def validate(desired):
    # -> (version, {key: value} to merge, [ignored keys]); raises Invalid.
    if not isinstance(desired, dict):
        raise Invalid("body: must be an object")
    version = desired.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise Invalid("version: must be a non-negative int")
    cfg = desired.get("config", {})
    if not isinstance(cfg, dict):
        raise Invalid("config: must be an object")
    changes = {}
    ignored = []
    for k in cfg:
        v = cfg[k]
        if k not in SCHEMA:
            ignored.append(k)
            continue
        lo, hi, _ = SCHEMA[k]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise Invalid("%s: must be an int in %d..%d, got %s" % (k, lo, hi, repr(v)))
        changes[k] = v
    return version, changes, ignored


class Shadow:
    def __init__(self, path=_PATH):
        self.path = path
        saved = flash.load(path, {})
        self.version = saved.get("version", 0)
        self.values = defaults()
        for k in saved.get("config", {}):
            if k in SCHEMA:
                self.values[k] = saved["config"][k]

    def __getitem__(self, key):
        return self.values[key]

    def reject(self, version, reason):
        return {
            "version": version,
            "status": REJECTED,
            "reason": reason,
            "applied_version": self.version,
            "config": self.values,
        }

    def apply(self, desired):
        # -> the config/reported body. The whole document applies or none.
        try:
            version, changes, ignored = validate(desired)
        except Invalid as e:
            v = desired.get("version") if isinstance(desired, dict) else None
            return self.reject(v, str(e))
        values = defaults()
        values.update(changes)
        if version != self.version or values != self.values:
            self.values = values
            self.version = version
            flash.save(self.path, {"version": version, "config": changes})
        body = {"version": version, "status": APPLIED, "config": self.values}
        if ignored:
            body["ignored"] = ignored
        return body
