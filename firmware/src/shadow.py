# Config shadow (protocol/SPEC.md 5.4): the cloud's desired config (retained
# on config/desired) is the whole configuration. It is validated as a whole,
# applied, kept in flash and reported back with its version; an invalid one
# is rejected with the reason and changes nothing. A version not greater
# than the applied one is ignored. Keys this firmware does not know are
# ignored (other devices of the fleet may use them).
import flash

_PATH = "config.json"

# key -> (min, max, default); all values are ints.
SCHEMA = {
    "heartbeat_s": (5, 3600, 60),
    "batch_s": (1, 3600, 60),
    "batch_max": (1, 32, 32),
    "scan_ms": (500, 60000, 5000),
    "rssi_floor": (-127, 0, -100),
    "rotation_s": (60, 604800, 86400),
}

INVALID = "invalid_config"


def defaults():
    return {k: SCHEMA[k][2] for k in SCHEMA}


def validate(config):
    # -> the full config (defaults for what is absent); raises ValueError.
    values = defaults()
    for k in config:
        if k not in SCHEMA:
            continue
        v = config[k]
        lo, hi, _ = SCHEMA[k]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ValueError("%s must be an integer from %d to %d, got %s" % (k, lo, hi, repr(v)[:40]))
        values[k] = v
    return values


class Shadow:
    def __init__(self, path=_PATH):
        self.path = path
        saved = flash.load(path, {})
        self.version = saved.get("version", 0)
        try:
            self.values = validate(saved.get("config", {}))
        except ValueError:
            self.version = 0
            self.values = defaults()

    def __getitem__(self, key):
        return self.values[key]

    def report(self, version=None, error=None):
        # The config_reported body.
        body = {"version": self.version if version is None else version, "config": self.values}
        if error is not None:
            body["error"] = {"code": INVALID, "reason": error}
        return body

    def apply(self, desired):
        # desired: a decoded config_desired body. -> config_reported body, or
        # None when the version is not newer than the applied one.
        version = desired["version"]
        if version <= self.version:
            return None
        try:
            values = validate(desired["config"])
        except ValueError as e:
            return self.report(version, str(e))
        self.values = values
        self.version = version
        flash.save(self.path, {"version": version, "config": values})
        return self.report()
