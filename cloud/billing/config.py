"""Billing settings: a typed object with defaults, read from MOBILYTICS_STRIPE_* at the process edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from cloud.core.env import env_values


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingSettings:
    stripe_api_key: str = ""
    # Where the Stripe library sends API calls; tests point it at a local stand-in.
    stripe_api_base: str = "https://api.stripe.com"
    stripe_webhook_secret: str = ""
    # Stripe's own default: a signed timestamp older than this is a replay.
    stripe_webhook_tolerance_s: int = 300
    # The billing meter whose events carry delivered impressions (Stripe "event_name").
    stripe_meter_event: str = "mobilytics_impressions"
    # A UTC day is reported once it has been closed this long (late telemetry settles first).
    usage_settle_s: int = 6 * 3600

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> BillingSettings:
        return replace(cls(), **env_values(cls, env))
