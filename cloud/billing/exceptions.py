"""Errors of billing (Stripe).

    BillingError
    ├── WebhookRejectedError   a webhook we refuse: bad/missing signature, stale timestamp, bad JSON -> 400
    ├── BillingNotFoundError   no billing record for a campaign/subscription                         -> 404
    └── StripeApiError         Stripe's API refused or could not be reached (stripe.StripeError, translated)

Foreign errors (`stripe.SignatureVerificationError`, `stripe.StripeError`) are translated in
`webhooks.verify` and `stripe_api.StripeApi` and never leak past them.
"""

from __future__ import annotations

from cloud.exceptions import CloudError


class BillingError(CloudError):
    """Base of billing errors."""


class WebhookRejectedError(BillingError):
    """A webhook that must change nothing: its signature, age or body is not acceptable."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"webhook rejected: {reason}")


class BillingNotFoundError(BillingError):
    def __init__(self, what: str, key: str) -> None:
        self.what = what
        self.key = key
        super().__init__(f"{what} {key!r} has no billing record")


class StripeApiError(BillingError):
    """A call to Stripe's API failed; `code`/`status` are Stripe's when it answered."""

    def __init__(self, *, operation: str, reason: str, status: int | None = None, code: str | None = None):
        self.operation = operation
        self.reason = reason
        self.status = status
        self.code = code
        super().__init__(f"Stripe {operation} failed ({status} {code}): {reason}")
