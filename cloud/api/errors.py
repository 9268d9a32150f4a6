"""The one place domain errors become HTTP answers."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError

from cloud.analytics.exceptions import AnalyticsError
from cloud.billing.exceptions import BillingError, BillingNotFoundError, WebhookRejectedError
from cloud.campaigns.exceptions import AlreadyExistsError, InvalidInputError, OverlapError
from cloud.exceptions import (
    AuthError,
    CloudError,
    ConfigInvalidError,
    ConflictError,
    InvalidStateChangeError,
    NotFoundError,
    RangeNotSatisfiableError,
    ReleaseRejectedError,
    ReleaseStoreError,
    RootRejectedError,
)
from cloud.exports.exceptions import CallbackRejectedError, ExportError, ExportNotFoundError
from cloud.identity.exceptions import EnrollmentError, IdentityError

_NUL = (b"\\u0000", b"\\U0000", b"%00")


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def _refuse_nul(request: Request, call_next):  # type: ignore[no-untyped-def]
        # PostgreSQL text cannot hold NUL: refuse it in the URL or a JSON body as bad input (422)
        # instead of letting the driver fail on it deep inside a query.
        url = request.url.path.encode() + b"?" + request.url.query.encode()
        is_json = request.headers.get("content-type", "").startswith("application/json")
        body = await request.body() if is_json and request.method in {"POST", "PUT", "PATCH"} else b""
        if "\x00" in request.url.path or any(m in url for m in _NUL) or any(m in body for m in _NUL[:2]):
            return JSONResponse(
                {"detail": [{"loc": ["request"], "msg": "NUL characters are not accepted", "type": "value"}]},
                status_code=422,
            )
        return await call_next(request)

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
            case ReleaseRejectedError():
                return JSONResponse({"detail": exc.reason, "error": exc.error}, status_code=422)
            case RootRejectedError():
                return JSONResponse({"detail": str(exc), "error": exc.error}, status_code=422)
            case ConflictError():
                return JSONResponse({"detail": str(exc)}, status_code=409)
            case RangeNotSatisfiableError():
                return JSONResponse(
                    {"detail": str(exc)}, status_code=416, headers={"Content-Range": f"bytes */{exc.length}"}
                )
            case ReleaseStoreError():
                return JSONResponse({"detail": str(exc)}, status_code=503)
            case EnrollmentError():
                # 403 with a stable reason code the provisioning CLI shows (unknown/expired/used/...).
                return JSONResponse(
                    {"detail": {"reason": exc.reason, "message": exc.detail}}, status_code=403
                )
            case IdentityError():
                return JSONResponse({"detail": {"reason": "identity", "message": str(exc)}}, status_code=422)
        return JSONResponse({"detail": str(exc)}, status_code=500)

    @app.exception_handler(DataError)
    async def _data_error(_request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the request carried (an id beyond its integer range, ...):
        # the caller's input, translated here once instead of bounding every path parameter.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "value out of range"
        return JSONResponse(
            {"detail": [{"loc": ["request"], "msg": reason, "type": "value"}]}, status_code=422
        )

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
