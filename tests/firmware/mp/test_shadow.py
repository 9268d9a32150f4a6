# Config shadow (runs under MicroPython, flash = cwd).
import os

import shadow


def _fresh():
    try:
        os.remove("config.json")
    except OSError:
        pass
    return shadow.Shadow()


def test_applies_whole_config_and_persists():
    s = _fresh()
    assert s.version == 0 and s["heartbeat_s"] == 60
    body = s.apply({"version": 4, "config": {"heartbeat_s": 10, "ota_channel": "beta"}})
    assert body["version"] == 4 and "error" not in body
    assert body["config"]["heartbeat_s"] == 10 and "ota_channel" not in body["config"]
    s = shadow.Shadow()
    assert s.version == 4 and s["heartbeat_s"] == 10
    # the desired config is the whole config: what is absent is the default
    s.apply({"version": 5, "config": {"batch_max": 8}})
    assert s["heartbeat_s"] == 60 and s["batch_max"] == 8


def test_rejects_invalid_with_reason_and_keeps_previous():
    s = _fresh()
    s.apply({"version": 1, "config": {"heartbeat_s": 10}})
    for bad in ({"heartbeat_s": 1}, {"batch_max": "8"}, {"rssi_floor": True}, {"scan_ms": 1.5}):
        body = s.apply({"version": 2, "config": bad})
        assert body["version"] == 2
        assert body["error"]["code"] == "invalid_config"
        assert list(bad)[0] in body["error"]["reason"]
        assert s.version == 1 and s["heartbeat_s"] == 10


def test_ignores_versions_not_newer():
    s = _fresh()
    s.apply({"version": 3, "config": {}})
    assert s.apply({"version": 3, "config": {"heartbeat_s": 10}}) is None
    assert s.apply({"version": 2, "config": {}}) is None
    assert s["heartbeat_s"] == 60
