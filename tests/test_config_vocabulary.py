"""The cloud validates desired config with the devices' own vocabularies, so what the API accepts a
device applies, and what a device would reject the API refuses first (422, not a rejected report)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

from cloud.shadow.schemas import schema_for
from edge_agent.config import Tunables
from tests.services import REPO


def _ranges(properties: dict[str, dict[str, int]]) -> dict[str, tuple[int, int]]:
    return {k: (v["minimum"], v["maximum"]) for k, v in properties.items()}


def test_the_rpi_schema_is_the_agents_tunables() -> None:
    agent = {f.name: f.metadata["range"] for f in dataclasses.fields(Tunables)}
    assert _ranges(schema_for("rpi")["properties"]) == agent


def test_the_esp32_schema_is_the_firmwares_shadow_schema() -> None:
    source = Path(REPO / "firmware" / "src" / "shadow.py").read_text()
    table = next(
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SCHEMA" for t in node.targets)
    )
    firmware = {k: (lo, hi) for k, (lo, hi, _default) in ast.literal_eval(table).items()}
    assert _ranges(schema_for("esp32")["properties"]) == firmware


def test_a_device_of_unknown_kind_gets_only_settings_every_kind_accepts() -> None:
    common = _ranges(schema_for(None)["properties"])
    for kind in ("rpi", "esp32"):
        own = _ranges(schema_for(kind)["properties"])
        for key, (lo, hi) in common.items():
            assert key in own
            assert own[key][0] <= lo
            assert hi <= own[key][1]
