"""What the agent says about its own health, every ``heartbeat_s``: protocol v1's heartbeat body.

Readings come from the places a Pi exposes them: CPU temperature from the thermal zone (millidegrees
Celsius, reported in deci-degrees), free disk from statvfs of the data directory, available memory
from /proc/meminfo. A reading the host does not offer is left out rather than faked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from edge_agent.gps import Fix
from edge_agent.gps.fix import gps_fix_quality

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
MEMINFO = Path("/proc/meminfo")


def cpu_temp_dc(path: Path = THERMAL_ZONE) -> int | None:
    """CPU temperature in deci-degrees Celsius, or None without a thermal zone."""
    try:
        return int(path.read_text().strip()) // 100
    except (OSError, ValueError):
        return None


def free_memory(path: Path = MEMINFO) -> int | None:
    """Available memory in bytes (MemAvailable), or None."""
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def free_disk(directory: str | Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


@dataclass(frozen=True, slots=True)
class Health:
    """The inputs of one heartbeat that the runtime knows (the host readings are taken here)."""

    uptime_s: int
    interval_s: int
    outbox_depth: int
    dropped_obs: int
    fix: Fix | None
    fw: str
    config_version: int | None

    def body(self, data_dir: str | Path) -> dict:
        body: dict = {
            "uptime_s": self.uptime_s,
            "interval_s": self.interval_s,
            "outbox": self.outbox_depth,
            "dropped": self.dropped_obs,
            "free_disk": free_disk(data_dir),
            "gps_fix": gps_fix_quality(self.fix),
            "fw": self.fw,
        }
        if (mem := free_memory()) is not None:
            body["free_mem"] = mem
        if (temp := cpu_temp_dc()) is not None:
            body["temp_dc"] = max(-1000, min(2000, temp))
        if self.config_version is not None:
            body["config_version"] = self.config_version
        return body
