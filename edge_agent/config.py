"""The agent's configuration: a typed object read from TOML, with environment overrides.

Two layers, with different owners:
- ``AgentConfig``: what the installer sets on the device (identity, broker, sources, GPS, disk). Read
  once at start from ``agent.toml``; any key can be overridden by an environment variable named
  ``MOBILYTICS_AGENT__<TABLE>__<KEY>`` (``MOBILYTICS_AGENT__MQTT__HOST=broker.local``), whose value is
  read as a TOML value when it parses as one (``1883``, ``true``, ``-90``) and as a string otherwise.
- ``Tunables``: what the cloud may change at run time through ``config/desired`` (scan intervals,
  RSSI floor, key rotation, heartbeat interval, batch size). The file gives the baseline; a desired
  config is a set of overrides on that baseline, validated whole: one bad value rejects it all and
  the running tunables stay as they were.

The environment is read here, at the process edge, and nowhere else.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from edge_agent.exceptions import ConfigError
from edge_agent.privacy import DEFAULT_ROTATION_S
from protocol.topics import is_device_id

ENV_PREFIX = "MOBILYTICS_AGENT__"

C = TypeVar("C")


@dataclass(frozen=True)
class Tunables:
    """Settings the cloud may change. Field metadata gives each one's allowed range."""

    heartbeat_s: int = field(default=60, metadata={"range": (5, 86_400)})
    rssi_floor: int = field(default=-95, metadata={"range": (-127, 0)})
    rotation_s: int = field(default=DEFAULT_ROTATION_S, metadata={"range": (60, 30 * 86_400)})
    batch_size: int = field(default=100, metadata={"range": (1, 500)})
    batch_max_age_s: int = field(default=10, metadata={"range": (1, 3600)})
    ble_scan_s: int = field(default=10, metadata={"range": (1, 3600)})
    ble_idle_s: int = field(default=0, metadata={"range": (0, 3600)})
    fix_max_gap_s: int = field(default=10, metadata={"range": (1, 3600)})

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if type(value) is not int:
                raise ConfigError(f"tunables.{f.name}", f"must be an integer, not {value!r}")
            lo, hi = f.metadata["range"]
            if not lo <= value <= hi:
                raise ConfigError(f"tunables.{f.name}", f"must be from {lo} to {hi}, not {value}")

    def with_overrides(self, overrides: Mapping[str, Any]) -> Tunables:
        """These tunables with ``overrides`` applied; raises ConfigError naming the first bad key."""
        known = {f.name for f in dataclasses.fields(self)}
        for key in overrides:
            if key not in known:
                raise ConfigError(f"tunables.{key}", "is not a setting this agent knows")
        return dataclasses.replace(self, **overrides)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class MqttConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None  # a CA file turns TLS on
    # The device's client certificate and key (PEM), signed by the fleet CA: the broker takes the
    # certificate's CN (the device id) as the username (cloud/broker/mosquitto.py). Both or neither.
    tls_cert: str | None = None
    tls_key: str | None = None
    keepalive_s: int = 30
    publish_timeout_s: float = 10.0
    window: int = 20  # telemetry batches in flight awaiting PUBACK
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0


@dataclass(frozen=True)
class PcapSourceConfig:
    path: str
    speed: float | None = None
    rebase: bool = False


@dataclass(frozen=True)
class MonitorSourceConfig:
    interface: str


@dataclass(frozen=True)
class BleSourceConfig:
    adapter: str | None = None


@dataclass(frozen=True)
class SimulateSourceConfig:
    seed: int = 1
    speed: float | None = 1.0
    duration_s: float | None = None
    arrivals_per_min: float = 20.0


@dataclass(frozen=True)
class SourcesConfig:
    pcap: PcapSourceConfig | None = None
    monitor: MonitorSourceConfig | None = None
    ble: BleSourceConfig | None = None
    simulate: SimulateSourceConfig | None = None


@dataclass(frozen=True)
class GpsConfig:
    gpsd: str | None = None  # "host:port"
    nmea: str | None = None  # serial device
    nmea_baud: int = 9600


@dataclass(frozen=True)
class OtaConfig:
    """Over-the-air updates (edge_agent/ota/). Without this table the agent ignores offers."""

    root: str  # the A/B release directories and the update's journal (edge_agent/ota/slots.py)
    trusted_root: str  # the fleet's signed root as shipped (rotations since: ota/updater.py)
    model: str = "rpi"  # the hardware model the signed release must target
    self_test_s: float = 120.0  # from the switch until the new version must have confirmed


@dataclass(frozen=True)
class AgentConfig:
    device_id: str
    fleet_key_hex: str
    data_dir: str = "/var/lib/mobilytics-agent"
    hw: str = "rpi"
    outbox_max_mb: float = 64.0
    infra_macs: list[str] = field(default_factory=list)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    tunables: Tunables = field(default_factory=Tunables)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    gps: GpsConfig = field(default_factory=GpsConfig)
    ota: OtaConfig | None = None

    @property
    def fleet_key(self) -> bytes:
        return bytes.fromhex(self.fleet_key_hex)

    @property
    def outbox_path(self) -> Path:
        return Path(self.data_dir) / "outbox.sqlite"

    @property
    def infra_addresses(self) -> frozenset[bytes]:
        return frozenset(bytes.fromhex(m.replace(":", "")) for m in self.infra_macs)


def load(path: str | Path | None, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """Read ``path`` (TOML; None for environment only), apply environment overrides, validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text())
        except OSError as e:
            raise ConfigError(str(path), f"cannot read: {e.strerror}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(str(path), f"not valid TOML: {e}") from e
    _apply_env(raw, os.environ if environ is None else environ)
    if "fleet_key_file" in raw:
        key_file = Path(raw.pop("fleet_key_file"))
        try:
            raw.setdefault("fleet_key_hex", key_file.read_text().strip())
        except OSError as e:
            raise ConfigError("fleet_key_file", f"cannot read {key_file}: {e.strerror}") from e
    config = _build(AgentConfig, raw, "")
    _check(config)
    return config


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, text in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        target = raw
        for part in path[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(name, f"{part} is not a table")
        try:
            target[path[-1]] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            target[path[-1]] = text


def _build(cls: type[C], raw: Any, where: str) -> C:
    if not isinstance(raw, dict):
        raise ConfigError(where or "<root>", "must be a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in raw:
        if key not in names:
            raise ConfigError(f"{where}{key}", "unknown setting")
    values = {key: _coerce(hints[key], value, f"{where}{key}") for key, value in raw.items()}
    try:
        return cls(**values)
    except TypeError as e:
        raise ConfigError(where.rstrip(".") or "<root>", str(e)) from e


def _coerce(hint: Any, value: Any, where: str) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None or (isinstance(value, str) and value == "" and type(None) in options):
        if type(None) in options:
            return None
        raise ConfigError(where, "is required")
    for option in options:
        if dataclasses.is_dataclass(option):
            return _build(option, value, where + ".")
        if option is float and type(value) in (int, float):
            return float(value)
        if option in (int, str, bool) and type(value) is option:
            return value
        if typing.get_origin(option) is list and isinstance(value, list):
            return [str(v) for v in value]
    wanted = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    raise ConfigError(where, f"must be {wanted}, not {value!r}")


def _check(config: AgentConfig) -> None:
    if not is_device_id(config.device_id):
        raise ConfigError("device_id", "must match [a-z0-9][a-z0-9-]{2,62}")
    try:
        key = config.fleet_key
    except ValueError as e:
        raise ConfigError("fleet_key_hex", "must be hex") from e
    if len(key) < 16:
        raise ConfigError("fleet_key_hex", "must be at least 16 bytes (32 hex characters)")
    try:
        _ = config.infra_addresses
    except ValueError as e:
        raise ConfigError("infra_macs", "must be MAC addresses like aa:bb:cc:dd:ee:ff") from e
    s = config.sources
    if not any((s.pcap, s.monitor, s.ble, s.simulate)):
        raise ConfigError("sources", "configure at least one of pcap, monitor, ble, simulate")
    if config.gps.gpsd and config.gps.nmea:
        raise ConfigError("gps", "choose gpsd or nmea, not both")
    if (config.mqtt.tls_cert is None) != (config.mqtt.tls_key is None):
        raise ConfigError("mqtt.tls_cert", "set tls_cert and tls_key together")
    if config.mqtt.tls_cert and not config.mqtt.tls_ca:
        raise ConfigError("mqtt.tls_ca", "a client certificate needs tls_ca (TLS) too")
    if config.outbox_max_mb <= 0:
        raise ConfigError("outbox_max_mb", "must be positive")
