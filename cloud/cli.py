"""`mobilytics`: run the control plane and administer it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud.broker.mosquitto import MosquittoConfig
from cloud.core.config import Settings
from cloud.exceptions import CloudError

if TYPE_CHECKING:
    from sqlmodel import Session

app = typer.Typer(help="Mobilytics control plane: registry, presence, telemetry ingest, OTA, analytics.")


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Address the API listens on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="API port (default 8000).")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="Embedded broker's port (default 1883).")] = None,
    broker: Annotated[
        str | None, typer.Option(help="External broker, mqtt://host:port (default: run amqtt embedded).")
    ] = None,
    db: Annotated[str | None, typer.Option(help="sqlite:///PATH or postgresql://user@host/db.")] = None,
    simulate: Annotated[int | None, typer.Option(help="Run this many simulated devices.")] = None,
) -> None:
    """Run API + MQTT bridge (+ embedded broker, + simulated fleet) in one process."""
    from cloud.core.runtime import settle_after_startup
    from cloud.logs import configure_logging
    from cloud.stack import run_stack

    configure_logging()
    settle_after_startup()
    try:
        settings = Settings.from_env(
            api_host=host, api_port=port, mqtt_port=mqtt_port, broker=broker, db=db, simulate=simulate
        )
        asyncio.run(run_stack(settings))
    except CloudError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass


token_app = typer.Typer(help="Ops API tokens (stored hashed; the token is printed once).")
app.add_typer(token_app, name="token")


def _engine(db: str | None):  # type: ignore[no-untyped-def]
    from cloud.core.db import make_engine, migrate

    engine = make_engine(Settings.from_env(db=db).db)
    migrate(engine)
    return engine


@token_app.command("create")
def token_create(
    scope: Annotated[str, typer.Option(help="read or write (write implies read).")] = "read",
    name: Annotated[str, typer.Option(help="Who or what the token is for.")] = "ops",
    db: Annotated[str | None, typer.Option(help="sqlite:///PATH or postgresql://...")] = None,
) -> None:
    """Create a token and print it once: the database keeps only its SHA-256."""
    from sqlmodel import Session

    from cloud.auth.models import Scope
    from cloud.auth.service import create_token
    from cloud.core.types import utcnow

    if scope not in {s.value for s in Scope}:
        typer.secho(f"error: scope must be read or write, not {scope!r}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    engine = _engine(db)
    with Session(engine) as session:
        row, token = create_token(session, name=name, scope=Scope(scope), now=utcnow())
        session.commit()
        typer.echo(token)
        typer.secho(f"created {scope} token {row.prefix}… for {name!r}; it is not shown again", err=True)
    engine.dispose()


@token_app.command("list")
def token_list(db: Annotated[str | None, typer.Option()] = None) -> None:
    from sqlmodel import Session, select

    from cloud.auth.models import ApiToken

    engine = _engine(db)
    with Session(engine) as session:
        for t in session.exec(select(ApiToken).order_by(ApiToken.id)):  # type: ignore[arg-type]
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            typer.echo(f"{t.prefix}…\t{t.scope}\t{t.name}\t{state}")
    engine.dispose()


@token_app.command("revoke")
def token_revoke(prefix: str, db: Annotated[str | None, typer.Option()] = None) -> None:
    """Revoke the token(s) whose listing prefix is PREFIX (e.g. mob_AbC123)."""
    from sqlmodel import Session

    from cloud.auth.service import revoke
    from cloud.core.types import utcnow

    engine = _engine(db)
    with Session(engine) as session:
        n = revoke(session, prefix=prefix.rstrip("…"), now=utcnow())
        session.commit()
    engine.dispose()
    typer.echo(f"revoked {n} token(s)")
    if n == 0:
        raise typer.Exit(1)


user_app = typer.Typer(help="Ops users of the fleet UI (passwords stored as scrypt hashes).")
app.add_typer(user_app, name="user")


def _password(password_stdin: bool) -> str:
    import sys

    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def _in_session(db: str | None, change: Callable[[Session], None]) -> None:
    """Run `change` in one committed transaction; a domain error becomes exit 2 with its reason."""
    from sqlmodel import Session

    engine = _engine(db)
    try:
        with Session(engine) as session:
            change(session)
            session.commit()
    except CloudError as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()


PasswordStdin = Annotated[bool, typer.Option(help="Read the password from stdin (scripts).")]
DbOption = Annotated[str | None, typer.Option(help="sqlite:///PATH or postgresql://...")]


@user_app.command("create")
def user_create(username: str, password_stdin: PasswordStdin = False, db: DbOption = None) -> None:
    """Create an ops user who can sign in to the fleet UI at /ui."""
    from cloud.auth.users import create_user
    from cloud.core.types import utcnow

    password = _password(password_stdin)
    _in_session(db, lambda s: create_user(s, username=username, password=password, now=utcnow()))
    typer.echo(f"created ops user {username!r}; sign in at /ui/login")


@user_app.command("password")
def user_password(username: str, password_stdin: PasswordStdin = False, db: DbOption = None) -> None:
    """Set a new password for an ops user."""
    from cloud.auth.users import set_password

    password = _password(password_stdin)
    _in_session(db, lambda s: set_password(s, username=username, password=password))
    typer.echo(f"password of {username!r} changed")


@app.command()
def migrate(
    db: Annotated[str | None, typer.Option(help="sqlite:///PATH or postgresql://...")] = None,
) -> None:
    """Apply the database migrations (`up` does this itself)."""
    _engine(db).dispose()
    typer.echo("database at the latest migration")


@app.command("broker-config")
def broker_config(
    data_dir: Annotated[Path, typer.Option(help="Mosquitto's persistence directory.")] = Path(
        "/var/lib/mosquitto"
    ),
    host: str = "127.0.0.1",
    port: int = 1883,
    tls: Annotated[
        Path | None,
        typer.Option(help="Identity directory (`mobilytics identity init`): TLS with client certificates."),
    ] = None,
    tls_host: Annotated[str, typer.Option(help="Address the TLS listener binds.")] = "0.0.0.0",
    tls_port: Annotated[int, typer.Option(help="The TLS listener's port.")] = 8883,
    plain: Annotated[
        bool, typer.Option(help="With --tls, keep the plain listener (password fallback) on HOST:PORT.")
    ] = True,
) -> None:
    """Print a mosquitto.conf that never drops acknowledged telemetry (see cloud/broker/mosquitto.py);
    with --tls, one that admits only fleet certificates (or device passwords) and enforces the ACL."""
    if tls is None:
        typer.echo(MosquittoConfig(host=host, port=port, data_dir=data_dir).render(), nl=False)
        return
    from cloud.identity.directory import IdentityDir

    files = IdentityDir(tls).broker
    if not files.certfile.exists():
        typer.secho(
            f"error: no broker files in {files.directory}: run `mobilytics identity init {tls}`",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(2)
    config = MosquittoConfig(
        host=host,
        port=port,
        data_dir=data_dir,
        allow_anonymous=False,
        tls=files.tls_listener(port=tls_port, host=tls_host),
        password_file=files.password_file,
        acl_file=files.acl_file,
        plain=plain,
    )
    typer.echo(config.render(), nl=False)


identity_app = typer.Typer(help="The fleet's identity: CA, the cloud's and the broker's certificates.")
app.add_typer(identity_app, name="identity")


@identity_app.command("init")
def identity_init(
    directory: Annotated[Path, typer.Argument(help="Where to keep it (then MOBILYTICS_IDENTITY_DIR).")],
    broker_host: Annotated[
        list[str] | None,
        typer.Option("--broker-host", help="Name or address clients reach the broker at (repeatable)."),
    ] = None,
) -> None:
    """Create (or keep) the fleet CA; issue the cloud's client and the broker's server certificates; write
    the broker's CA, CRL, password and ACL files. Safe to repeat."""
    from cloud.identity.directory import IdentityDir

    ident = IdentityDir(directory).init(hosts=broker_host or ["127.0.0.1", "localhost"])
    typer.echo(f"fleet CA      {ident.ca_file}")
    typer.echo(f"cloud client  {ident.cloud_cert}")
    typer.echo(f"broker files  {ident.broker.directory}")
    typer.echo(
        f"next: mobilytics broker-config --tls {directory} > mosquitto.conf; "
        f"MOBILYTICS_IDENTITY_DIR={directory} mobilytics up --broker mqtts://HOST:8883"
    )
