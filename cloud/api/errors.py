"""The one place domain errors become HTTP answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from cloud.analytics.exceptions import AnalyticsError
from cloud.billing.exceptions import BillingError, BillingNotFoundError, WebhookRejectedError
from cloud.campaigns.exceptions import AlreadyExistsError, InvalidInputError, OverlapError
from cloud.exceptions import (
    AuthError,
    CloudError,
    ConfigInvalidError,
    InvalidStateChangeError,
    NotFoundError,
)
from cloud.exports.exceptions import CallbackRejectedError, ExportError, ExportNotFoundError


def install(app: FastAPI) -> None:
    @app.exception_handler(CloudError)
    async def _cloud_error(_request: Request, exc: CloudError) -> JSONResponse:
        match exc:
            case AuthError():
                headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else {}
                if exc.status == 403:
                    headers = {"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="write"'}
                return JSONResponse({"detail": exc.reason}, status_code=exc.status, headers=headers)
            case NotFoundError():
                return JSONResponse({"detail": str(exc)}, status_code=404)
            case ConfigInvalidError():
                return JSONResponse(
                    {
                        "detail": [
                            {
                                "loc": ["body", "config", *exc.field.split("/")],
                                "msg": exc.reason,
                                "type": "schema",
                            }
                        ]
                    },
                    status_code=422,
                )
            case InvalidStateChangeError() | AlreadyExistsError() | OverlapError():
                return JSONResponse({"detail": str(exc)}, status_code=409)
            case InvalidInputError():
                return JSONResponse(
                    {
                        "detail": [
                            {"loc": ["body", *exc.field.split(".")], "msg": exc.reason, "type": "value"}
                        ]
                    },
                    status_code=422,
                )
        return JSONResponse({"detail": str(exc)}, status_code=500)

    @app.exception_handler(AnalyticsError)
    async def _analytics_error(_request: Request, exc: AnalyticsError) -> JSONResponse:
        # Query errors (unknown breakdown, unusable time zone, bad zone): the caller's input.
        return JSONResponse(
            {"detail": [{"loc": ["query"], "msg": str(exc), "type": "value"}]}, status_code=422
        )

    @app.exception_handler(BillingError)
    @app.exception_handler(ExportError)
    async def _integration_error(_request: Request, exc: CloudError) -> JSONResponse:
        match exc:
            case WebhookRejectedError():
                return JSONResponse({"detail": exc.reason}, status_code=400)
            case CallbackRejectedError():
                return JSONResponse({"detail": exc.reason}, status_code=exc.status)
            case BillingNotFoundError() | ExportNotFoundError():
                return JSONResponse({"detail": str(exc)}, status_code=404)
        return JSONResponse({"detail": str(exc)}, status_code=502)
