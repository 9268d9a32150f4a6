"""Fixtures of the integration tests: Stripe's stand-in, moto's S3 server, BlueZoo's stand-in.

Databases come from tests/cloud/conftest.py (reused, not copied): `engine` is a migrated SQLite
file and a fresh PostgreSQL database.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from cloud.billing.stripe_api import StripeApi
from cloud.exports.config import ExportSettings
from cloud.exports.s3 import ObjectStore
from tests.cloud.conftest import db_url, engine, pg_url  # noqa: F401  (fixtures)
from tests.integrations.stripe_server import StripeStandIn, serve


@pytest.fixture
def stripe_standin() -> Iterator[tuple[StripeStandIn, str]]:
    state = StripeStandIn()
    server = serve(state)
    thread = threading.Thread(target=server.serve_forever, name="stripe-standin", daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield state, f"http://{host}:{port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def stripe_api(stripe_standin: tuple[StripeStandIn, str]) -> StripeApi:
    return StripeApi(api_key="sk_test_standin", api_base=stripe_standin[1], max_network_retries=0)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port (real HTTP, real boto3)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def export_settings(moto_s3: str) -> ExportSettings:
    """Settings for a fresh bucket of this test."""
    bucket = f"exports-{uuid.uuid4().hex[:12]}"
    s = ExportSettings(
        export_s3_endpoint=moto_s3,
        export_s3_region="us-east-1",
        export_s3_bucket=bucket,
        export_s3_access_key="AKIDMOTO",
        export_s3_secret_key="moto-secret",
        export_s3_max_attempts=4,
        export_part_size=5 * 1024 * 1024,
        export_mogean_secret="mogean-master-secret",
        export_mogean_callback_secret="mogean-callback-secret",
        export_spotzi_callback_secret="spotzi-callback-secret",
    )
    boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id="AKIDMOTO",
        aws_secret_access_key="moto-secret",
    ).create_bucket(Bucket=bucket)
    return s


@pytest.fixture
def store(export_settings: ExportSettings) -> ObjectStore:
    return ObjectStore.from_settings(export_settings)
