"""Config file + environment overrides, tunables validation, backoff, heartbeat readings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from edge_agent import config as agent_config
from edge_agent.config import Tunables
from edge_agent.exceptions import ConfigError
from edge_agent.gps import Fix, FixMode
from edge_agent.gps.fix import gps_fix_quality
from edge_agent.heartbeat import Health, cpu_temp_dc
from edge_agent.uplink import Backoff
from protocol import codec

EXAMPLE = Path(__file__).resolve().parents[2] / "edge_agent" / "agent.example.toml"


def test_example_config_is_valid_given_a_key_file(tmp_path: Path) -> None:
    key = tmp_path / "fleet.key"
    key.write_text("00112233445566778899aabbccddeeff\n")
    text = EXAMPLE.read_text().replace("/etc/mobilytics/fleet.key", str(key))
    (tmp_path / "agent.toml").write_text(text)
    cfg = agent_config.load(tmp_path / "agent.toml", environ={})
    assert cfg.device_id == "rpi-0001"
    assert cfg.fleet_key == bytes.fromhex("00112233445566778899aabbccddeeff")
    assert cfg.sources.monitor is not None
    assert cfg.sources.monitor.interface == "wlan1mon"
    assert cfg.gps.gpsd == "127.0.0.1:2947"
    assert cfg.tunables == Tunables()


def test_environment_overrides_any_key(tmp_path: Path) -> None:
    env = {
        "MOBILYTICS_AGENT__DEVICE_ID": "rpi-env-7",
        "MOBILYTICS_AGENT__FLEET_KEY_HEX": "ab" * 16,
        "MOBILYTICS_AGENT__MQTT__PORT": "1884",
        "MOBILYTICS_AGENT__MQTT__HOST": "broker.local",
        "MOBILYTICS_AGENT__TUNABLES__RSSI_FLOOR": "-80",
        "MOBILYTICS_AGENT__SOURCES__SIMULATE__SPEED": "10",
        "UNRELATED": "x",
    }
    cfg = agent_config.load(None, environ=env)
    assert (cfg.device_id, cfg.mqtt.host, cfg.mqtt.port) == ("rpi-env-7", "broker.local", 1884)
    assert cfg.tunables.rssi_floor == -80
    assert cfg.sources.simulate is not None
    assert cfg.sources.simulate.speed == 10.0


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"MOBILYTICS_AGENT__MQTT__PORT": '"x"'}, "mqtt.port"),
        ({"MOBILYTICS_AGENT__MQTT__PROT": "1"}, "mqtt.prot"),
        ({"MOBILYTICS_AGENT__TUNABLES__BATCH_SIZE": "501"}, "tunables.batch_size"),
        ({"MOBILYTICS_AGENT__DEVICE_ID": "Bad_Id"}, "device_id"),
        ({"MOBILYTICS_AGENT__FLEET_KEY_HEX": "abcd"}, "fleet_key_hex"),
        ({"MOBILYTICS_AGENT__INFRA_MACS": '["zz:zz"]'}, "infra_macs"),
    ],
)
def test_invalid_settings_name_their_field(env: dict, field: str) -> None:
    base = {
        "MOBILYTICS_AGENT__DEVICE_ID": "rpi-1",
        "MOBILYTICS_AGENT__FLEET_KEY_HEX": "ab" * 16,
        "MOBILYTICS_AGENT__SOURCES__SIMULATE__SEED": "1",
    }
    with pytest.raises(ConfigError) as err:
        agent_config.load(None, environ=base | env)
    assert err.value.field == field


def test_a_source_is_required_and_bad_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least one"):
        agent_config.load(None, environ={"MOBILYTICS_AGENT__DEVICE_ID": "rpi-1",
                                         "MOBILYTICS_AGENT__FLEET_KEY_HEX": "ab" * 16})  # fmt: skip
    (tmp_path / "bad.toml").write_text("device_id = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        agent_config.load(tmp_path / "bad.toml", environ={})


def test_desired_overrides_are_validated_whole() -> None:
    base = Tunables()
    assert base.with_overrides({"heartbeat_s": 30}).heartbeat_s == 30
    with pytest.raises(ConfigError) as err:
        base.with_overrides({"heartbeat_s": 30, "rssi_floor": 3})
    assert err.value.field == "tunables.rssi_floor"
    with pytest.raises(ConfigError, match="not a setting"):
        base.with_overrides({"scan_ms": 100})
    with pytest.raises(ConfigError, match="integer"):
        base.with_overrides({"batch_size": 10.5})


def test_backoff_is_jittered_capped_and_resets() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(1))
    delays = [backoff.next_delay() for _ in range(10)]
    ceilings = [min(8.0, 0.5 * 2**i) for i in range(10)]
    assert all(0 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len(set(delays)) == 10
    assert max(delays[5:]) > 2.0  # it grows towards the cap
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_heartbeat_body_is_valid_protocol(tmp_path: Path) -> None:
    thermal = tmp_path / "temp"
    thermal.write_text("48312\n")
    assert cpu_temp_dc(thermal) == 483
    assert cpu_temp_dc(tmp_path / "missing") is None
    fix = Fix(ts_ms=1, mode=FixMode.THREE_D, lat=49.2, lon=16.6, quality=2)
    assert gps_fix_quality(fix) == 2
    assert gps_fix_quality(Fix(ts_ms=1, mode=FixMode.NO_FIX)) == 0
    health = Health(uptime_s=12, interval_s=60, outbox_depth=3, dropped_obs=4, fix=fix, fw="0.1.0",
                    config_version=7)  # fmt: skip
    body = health.body(tmp_path)
    assert (body["outbox"], body["dropped"], body["gps_fix"], body["config_version"]) == (3, 4, 2, 7)
    assert body["free_disk"] > 0
    msg = codec.decode(codec.encode(codec.make("heartbeat", "rpi-1", "0123abcd", 0, 1, body)))
    assert msg.body == body


def test_agent_applies_newer_desired_configs_only(tmp_path: Path) -> None:
    from edge_agent.agent import Agent

    cfg = agent_config.load(None, environ={
        "MOBILYTICS_AGENT__DEVICE_ID": "rpi-1",
        "MOBILYTICS_AGENT__FLEET_KEY_HEX": "ab" * 16,
        "MOBILYTICS_AGENT__DATA_DIR": str(tmp_path),
        "MOBILYTICS_AGENT__SOURCES__SIMULATE__SEED": "1",
    })  # fmt: skip
    agent = Agent(cfg)
    report = agent.apply({"version": 4, "config": {"rssi_floor": -70, "rotation_s": 3600}})
    assert report == {"version": 4, "config": {**Tunables().as_dict(), "rssi_floor": -70, "rotation_s": 3600}}
    assert (agent.observer.rssi_floor, agent.keyring.rotation_s) == (-70, 3600)
    assert agent.apply({"version": 4, "config": {}}) is None  # the retained copy after a reconnect
    bad = agent.apply({"version": 5, "config": {"batch_size": 0}})
    assert bad is not None
    assert bad["error"]["code"] == "invalid_config"
    assert agent.tunables.rssi_floor == -70
    assert agent.config_version == 4
    # The whole config each time: a setting left out returns to agent.toml's value.
    assert agent.apply({"version": 6, "config": {"heartbeat_s": 30}}) is not None
    assert (agent.tunables.rssi_floor, agent.tunables.heartbeat_s) == (Tunables().rssi_floor, 30)
