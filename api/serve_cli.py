"""`tallyclerk serve` and `tallyclerk keys`: the HTTP API and the keys that reach it."""

from __future__ import annotations

import errno
import gc
import signal
import socket
import ssl
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from engine.access import PERMISSIONS
from engine.config import load_workspace
from tallyclerk.errors import ConfigError
from tallyclerk.wording import article

from .keys import KEYS_FILE, METRICS_ROLE, ROLES, KeyStore
from .workflow import err, out

keys_app = typer.Typer(help="API keys of the tenants a server serves.", no_args_is_help=True)

Workspaces = Annotated[
    Path,
    typer.Option(
        "--workspaces",
        help=f"The folder holding one workspace folder per tenant (and {KEYS_FILE}).",
        show_default=False,
    ),
]


def serve(
    workspaces: Workspaces,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on; 0 picks a free one.")
    ] = 8000,
    certfile: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM); with --keyfile, serve HTTPS.")
    ] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    max_body: Annotated[int, typer.Option(min=1, help="Largest request body, in bytes.")] = (
        16 * 1024 * 1024
    ),
    max_records: Annotated[int, typer.Option(min=1, help="Records per validate call.")] = 10_000,
    max_events: Annotated[int, typer.Option(min=1, help="Events per events call.")] = 1_000,
    rate: Annotated[int, typer.Option(min=1, help="Requests per key per minute.")] = 600,
) -> None:
    """Serve the HTTP API: each folder under --workspaces with a tallyclerk.yaml is a tenant,
    named by the folder."""
    import uvicorn

    from .app import Settings, create_app

    if (certfile is None) != (keyfile is None):
        raise ConfigError("HTTPS needs both --certfile and --keyfile; give both or neither.")
    for option, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None and not path.is_file():
            raise ConfigError(f"{option} {path}: no such file; give the path of a PEM file.")
    if certfile is not None and keyfile is not None:
        _check_certificate(certfile, keyfile)
    settings = Settings(
        workspaces=workspaces,
        max_body_bytes=max_body,
        max_records=max_records,
        max_events=max_events,
        requests_per_minute=rate,
    )
    app = create_app(settings)
    listening = _listen(host, port)
    bound = listening.getsockname()[1]
    config = uvicorn.Config(
        app,
        host=host,
        port=bound,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        log_level="warning",
        server_header=False,
    )
    scheme = "https" if certfile else "http"
    shown = f"[{host}]" if ":" in host else host
    err.print(f"Serving {workspaces} on {scheme}://{shown}:{bound}", highlight=False)
    # uvicorn stops gracefully on SIGTERM, then raises the signal again for the previous
    # handler; a supervisor stopping the server is a normal stop, so that second one is let go.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    # What is loaded by now (the libraries, the app) lives as long as the server: kept out of
    # the collector's full passes, which otherwise walk it all and stall a call by 60 ms.
    gc.freeze()
    try:
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        listening.close()


def _check_role_within(role: str, user: str, user_role: str, tenant: str) -> None:
    """A key acting as a user may do only what the user may: one whose role allows more
    would be refused those steps at every request, so it is not made."""
    if role not in ROLES:
        return  # the key store names the roles

    def within(key_role: str) -> bool:
        return all(user_role in roles for roles in PERMISSIONS.values() if key_role in roles)

    if not within(role):
        fitting = " or ".join(r for r in ROLES if within(r))
        raise ConfigError(
            f"--role {role}: {user} is {article(user_role)} in {tenant}'s tallyclerk.yaml, and a "
            f"key acting as {user} may do only what {user} may; give --role {fitting}, or "
            f"change {user}'s role first."
        )


def _check_certificate(certfile: Path, keyfile: Path) -> None:
    """Load the certificate and key once before serving, so a bad pair is said by name
    (uvicorn would say only "PEM lib", and ask for an encrypted key's pass phrase)."""

    def no_pass_phrase() -> bytes:
        raise ConfigError(
            f"--keyfile {keyfile}: the key is encrypted; give the key without a pass phrase "
            f"(`openssl pkey -in {keyfile.name} -out plain.key`) and keep that file private."
        )

    for option, path, marker, what in (
        ("--certfile", certfile, b"-----BEGIN CERTIFICATE-----", "PEM certificate"),
        ("--keyfile", keyfile, b"PRIVATE KEY-----", "PEM private key"),
    ):
        if marker not in path.read_bytes():
            raise ConfigError(f"{option} {path} holds no {what}; give the {what} file.")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            certfile, keyfile, password=no_pass_phrase
        )
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        raise ConfigError(
            f"--certfile {certfile} and --keyfile {keyfile} cannot be loaded ({reason}); give "
            "a PEM certificate and the private key it was made for."
        ) from exc


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound before anything is printed, so a port in use is said once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Made as a TCP socket by name: asyncio turns Nagle's algorithm off only on connections
    # of such a socket, and with it on every answer waits some 40 ms for a delayed ACK.
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(socket.SOMAXCONN)
        return listening
    except OSError as exc:
        listening.close()
        if exc.errno == errno.EADDRINUSE:
            fix = "choose another --port, or stop what listens there"
        else:
            fix = "give --host an address of this machine (127.0.0.1, 0.0.0.0 or ::)"
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; {fix}.") from exc


@keys_app.command("create")
def keys_create(
    workspaces: Workspaces,
    role: Annotated[
        str, typer.Option(help=f"{', '.join(ROLES)}, or {METRICS_ROLE} for /metrics only.")
    ],
    tenant: Annotated[
        str | None, typer.Option(help="The tenant: its workspace folder's name.")
    ] = None,
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            help="The workspace user the key acts as (four eyes and audit see this user); "
            "by default the key acts as key:<id>.",
        ),
    ] = None,
) -> None:
    """Make a key and print it once; only its hash is kept."""
    if tenant is not None and not (workspaces / tenant / "tallyclerk.yaml").is_file():
        raise ConfigError(
            f"--tenant {tenant}: {workspaces / tenant} holds no tallyclerk.yaml; a tenant is a "
            "workspace folder under --workspaces."
        )
    if tenant is not None and user is not None:
        users = load_workspace(workspaces / tenant).config.users
        if user not in users:
            raise ConfigError(
                f"--user {user}: {tenant}'s tallyclerk.yaml declares no such user (users: "
                f"{', '.join(sorted(users)) or 'none'}); declare the user under `users` first, "
                "or leave out --user."
            )
        _check_role_within(role, user, users[user], tenant)
    store = KeyStore(workspaces)
    try:
        secret, key = store.create(tenant=tenant, role=role, user=user)
    finally:
        store.close()
    err.print(
        f"Key {key.key_id} for {key.tenant or 'metrics'} ({key.role}, acting as "
        f"{key.identity}); it is shown only now:",
        highlight=False,
    )
    out.print(secret, highlight=False, markup=False)


@keys_app.command("list")
def keys_list(workspaces: Workspaces) -> None:
    """Every key: id, tenant, role, who it acts as, and when it was made or revoked."""
    store = KeyStore(workspaces)
    try:
        keys = store.all()
    finally:
        store.close()
    table = Table("key", "tenant", "role", "acts as", "created", "revoked")
    for key in keys:
        table.add_row(
            key.key_id,
            key.tenant or "",
            key.role,
            key.identity,
            key.created_at,
            key.revoked_at or "",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(
    workspaces: Workspaces, key_id: Annotated[str, typer.Argument(help="The key's id.")]
) -> None:
    """Refuse a key from now on; a running server sees it at the key's next request."""
    store = KeyStore(workspaces)
    try:
        key = store.revoke(key_id)
    finally:
        store.close()
    out.print(f"Key {key.key_id} revoked at {key.revoked_at}.", highlight=False)
