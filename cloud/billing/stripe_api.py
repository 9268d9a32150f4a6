"""The one seam to Stripe's API: a `StripeClient` (base address configurable) behind plain methods.

Everything above this module sees dicts and `StripeApiError`, never a `stripe` object or error.
Every write carries an idempotency key, so a retried call (ours or the library's network retries)
is applied by Stripe once.
"""

from __future__ import annotations

from typing import Any

import stripe

from cloud.billing.exceptions import StripeApiError


class StripeApi:
    def __init__(self, *, api_key: str, api_base: str, max_network_retries: int = 2) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base, "meter_events": api_base},
            max_network_retries=max_network_retries,
        )

    def _call(
        self, operation: str, fn: Any, params: dict[str, Any], key: str | None = None
    ) -> dict[str, Any]:
        options: dict[str, Any] = {"idempotency_key": key} if key else {}
        try:
            result = fn(params=params, options=options) if options else fn(params=params)
        except stripe.StripeError as e:
            code = getattr(e, "code", None)
            raise StripeApiError(
                operation=operation, reason=e.user_message or str(e), status=e.http_status, code=code
            ) from e
        return result.to_dict(recursive=True)  # type: ignore[no-any-return]

    # -- catalog ---------------------------------------------------------------------------------
    def price_by_lookup_key(self, lookup_key: str) -> dict[str, Any] | None:
        page = self._call("prices.list", self._client.v1.prices.list, {"lookup_keys": [lookup_key]})
        data = page.get("data") or []
        return data[0] if data else None

    def create_product(self, *, name: str, metadata: dict[str, str], key: str) -> dict[str, Any]:
        return self._call(
            "products.create", self._client.v1.products.create, {"name": name, "metadata": metadata}, key
        )

    def create_price(self, params: dict[str, Any], *, key: str) -> dict[str, Any]:
        return self._call("prices.create", self._client.v1.prices.create, params, key)

    def create_meter(self, *, event_name: str, display_name: str, key: str) -> dict[str, Any]:
        params = {
            "display_name": display_name,
            "event_name": event_name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"type": "by_id", "event_payload_key": "stripe_customer_id"},
            "value_settings": {"event_payload_key": "value"},
        }
        return self._call("billing.meters.create", self._client.v1.billing.meters.create, params, key)

    # -- checkout --------------------------------------------------------------------------------
    def create_checkout_session(self, params: dict[str, Any], *, key: str) -> dict[str, Any]:
        return self._call("checkout.sessions.create", self._client.v1.checkout.sessions.create, params, key)

    # -- usage -----------------------------------------------------------------------------------
    def create_meter_event(
        self, *, event_name: str, customer_id: str, value: int, identifier: str, timestamp: int
    ) -> dict[str, Any]:
        params = {
            "event_name": event_name,
            "identifier": identifier,  # Stripe deduplicates meter events on it as well
            "timestamp": timestamp,
            "payload": {"stripe_customer_id": customer_id, "value": str(value)},
        }
        return self._call(
            "billing.meter_events.create", self._client.v1.billing.meter_events.create, params, identifier
        )
