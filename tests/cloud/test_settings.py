"""Every settings object reads MOBILYTICS_<FIELD> the same way, and a malformed number names its variable."""

from __future__ import annotations

import pytest

from cloud.billing.config import BillingSettings
from cloud.bluezoo.config import BlueZooSettings
from cloud.core.config import Settings
from cloud.exceptions import SettingsError
from cloud.exports.config import ExportSettings


def test_variables_set_typed_values_and_flags_win() -> None:
    env = {
        "MOBILYTICS_DB": "postgresql://db.example/fleet",
        "MOBILYTICS_API_PORT": "9000",
        "MOBILYTICS_HEARTBEAT_TIMEOUT_FACTOR": "2.5",
    }
    settings = Settings.from_env(env, api_port=9100)
    assert settings.db == "postgresql://db.example/fleet"
    assert settings.heartbeat_timeout_factor == 2.5
    assert settings.api_port == 9100  # the CLI flag over the variable
    assert BillingSettings.from_env({"MOBILYTICS_USAGE_SETTLE_S": "60"}).usage_settle_s == 60
    assert ExportSettings.from_env({"MOBILYTICS_EXPORT_SPOTZI_K": "7"}).export_spotzi_k == 7
    assert BillingSettings.from_env({}) == BillingSettings()


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        (Settings, "MOBILYTICS_API_PORT"),
        (BillingSettings, "MOBILYTICS_USAGE_SETTLE_S"),
        (ExportSettings, "MOBILYTICS_EXPORT_SPOTZI_K"),
        (BlueZooSettings, "MOBILYTICS_BLUEZOO_POLL_INTERVAL_S"),
    ],
)
def test_a_malformed_number_names_the_variable(settings: type, variable: str) -> None:
    with pytest.raises(SettingsError) as caught:
        settings.from_env({variable: "soon"})
    assert caught.value.name == variable
    assert "soon" in str(caught.value)
