"""The `helpline` command: the composition root, the one place that wires everything together.

helpline serve --demo                      # the embedded defaults, a demo tenant
helpline serve --host 0.0.0.0 --port 8080 --database postgresql+asyncpg://...
helpline tenant create "Acme" --json
helpline key create TENANT_ID --json
helpline simulate center.yaml traffic.yaml [--json] [--report report.html]
helpline simulate center.yaml traffic.yaml --find-staffing "service_level>=0.8"
helpline config check center.yaml
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.metadata
import importlib.resources
import json
import os
import sys
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from pydantic import ValidationError
from rich.console import Console

from helpline.api.app import create_app
from helpline.cli_simulate import add_simulate_command
from helpline.cli_sip import add_sip_options, settings_error, sip_settings
from helpline.compiled import BUILD
from helpline.config import center_document, load_center, parse_center
from helpline.core.errors import HelplineError
from helpline.settings import Settings
from helpline.store import Store
from helpline.telephony.sip import set_password

DEMO_TENANT = "demo"
SWITCH_INTERVAL_S = 0.0005  # see `_serve`


def freeze_startup_heap() -> None:
    """Move what importing and building the app made (about 200,000 objects: modules,
    classes, routes, the ORM's metadata, all alive until exit) out of the garbage
    collector's reach, so a full collection walks only what calls made. At 400 SIP calls/s
    the server holds the last 32 s of calls for retransmissions (RFC 3261 17.2.2), and each
    full collection paused the loop for hundreds of milliseconds, long enough for callers'
    retransmissions (bench/README.md, `bench_sip.py`). Collected first so that no garbage
    is frozen with it. A server's startup only: frozen objects are never freed."""
    gc.collect()
    gc.freeze()


def _config_check(args: argparse.Namespace) -> int:
    center = load_center(args.center)
    print(
        f"{args.center}: valid: {len(center.numbers)} numbers, {len(center.ivr_trees)} IVR "
        f"trees, {len(center.queues)} queues, {len(center.groups)} groups, "
        f"{len(center.agents)} agents"
    )
    return 0


def _config_export(args: argparse.Namespace) -> int:
    print(json.dumps(center_document(load_center(args.center)), indent=2))
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "database", "media_workers"):
        value = getattr(args, name, None)
        if value is not None:
            overrides["database_url" if name == "database" else name] = value
    try:
        return Settings(**overrides)
    except ValidationError as error:  # a bad HELPLINE_* value: say which, no traceback
        raise settings_error(error) from error


def demo_document() -> dict[str, Any]:
    """The demo center of seed 000 section 1, shipped inside the package."""
    text = importlib.resources.files("helpline.demo").joinpath("center.yaml").read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


async def seed_demo(settings: Settings) -> dict[str, str]:
    """Make sure the demo tenant exists with the demo center; a fresh API key each start."""
    store = await Store.open(settings.database_url)
    try:
        if await store.tenants.get_tenant(DEMO_TENANT) is None:
            await store.tenants.create_tenant("Demo call center", tenant_id=DEMO_TENANT)
        if await store.configs.get_config(DEMO_TENANT) is None:
            document = center_document(parse_center(demo_document()), name="Demo call center")
            await store.configs.put_config(DEMO_TENANT, document)
        key = await store.tenants.create_api_key(DEMO_TENANT, "demo (helpline serve --demo)")
        token = await store.tenants.create_app_token(DEMO_TENANT, "demo agents")
    finally:
        await store.close()
    return {
        "tenant_id": DEMO_TENANT,
        "key_id": key.key_id,
        "secret": key.secret,
        "app_token": token.token,
    }


def default_media_workers() -> int:
    """One media worker per core this process may run on (its affinity and cpuset, as a
    container sets them; not the host's count), at most 16."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 16))


def _serve(args: argparse.Namespace) -> int:
    settings = sip_settings(args, _settings(args))
    if args.media_workers is None and "HELPLINE_MEDIA_WORKERS" not in os.environ:
        # browser calls' media on every core (issue 6); the library's default stays 0
        settings = settings.model_copy(update={"media_workers": default_media_workers()})
    if "HELPLINE_GC_PACING" not in os.environ:  # a server's collection (runtime/gc_pacing.py)
        settings = settings.model_copy(update={"gc_pacing": True})
    console = Console()
    if args.demo:
        demo = asyncio.run(seed_demo(settings))
        base = settings.base_url()
        console.print(f"""[bold]Helpline demo[/bold] (database: {settings.database_url})

  API docs     {base}/docs
  OpenAPI      {base}/openapi.json
  Tenant       {demo["tenant_id"]}
  API key      {demo["key_id"]}
  API secret   {demo["secret"]}
  App token    {demo["app_token"]}   (agents log in with e-mail + this: POST /v1/auth/login)

In a browser:
  Call the hotline   {base}/call?tenant={demo["tenant_id"]}&number=%2B18005550100
  Wallboard          {base}/wallboard#key={demo["key_id"]}:{demo["secret"]}
  Agent softphone    {base}/softphone?tenant={demo["tenant_id"]}&session=SESSION
                     (SESSION: the "session" that POST /v1/auth/login answers)

Try it (the agent alice answers on a sandbox device; a caller presses 1, then 1 for sales):
  curl -u {demo["key_id"]}:{demo["secret"]} -X PUT {base}/v1/sandbox/devices/alice \
       -H 'content-type: application/json' -d '{{"answer_delay_s": 1}}'
  curl -u {demo["key_id"]}:{demo["secret"]} -X POST {base}/v1/sandbox/calls \
       -H 'content-type: application/json' -d '{{"to": "+18005550100"}}'
  curl -u {demo["key_id"]}:{demo["secret"]} -X POST {base}/v1/sandbox/calls/CALL_ID/keys \
       -H 'content-type: application/json' -d '{{"digits": "11"}}'
  curl -u {demo["key_id"]}:{demo["secret"]} {base}/v1/call-records
""")
    # The event loop shares the interpreter lock with the database driver's thread (aiosqlite
    # runs every statement on one). At the default 5 ms switch interval, each time the loop
    # wakes for a datagram it can wait 5 ms for the lock while that thread works: at 150
    # SIP calls/s that delay made thousands of retransmissions (bench/bench_sip.py).
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    app = create_app(settings)  # its garbage collection runs on a clock (`gc_pacing`)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info" if args.verbose else "warning",
        timeout_graceful_shutdown=10,  # SIGTERM: stop waiting on requests stuck in flight
    )
    return 0


async def _create_tenant(settings: Settings, name: str, tenant_id: str | None) -> dict[str, str]:
    store = await Store.open(settings.database_url)
    try:
        tenant = await store.tenants.create_tenant(name, tenant_id=tenant_id)
        key = await store.tenants.create_api_key(tenant.id, "created with the tenant")
    finally:
        await store.close()
    return {"tenant_id": tenant.id, "name": tenant.name, "key_id": key.key_id, "secret": key.secret}


async def _create_key(settings: Settings, tenant_id: str, label: str) -> dict[str, str]:
    store = await Store.open(settings.database_url)
    try:
        key = await store.tenants.create_api_key(tenant_id, label)
    finally:
        await store.close()
    return {"tenant_id": tenant_id, "key_id": key.key_id, "secret": key.secret}


def _print_credentials(found: dict[str, str], as_json: bool) -> None:
    if as_json:
        print(json.dumps(found))
        return
    for name, value in found.items():
        print(f"{name:10s} {value}")
    print("The secret is shown only now: keep it. Use it with HTTP Basic (key_id:secret).")


def _tenant_create(args: argparse.Namespace) -> int:
    found = asyncio.run(_create_tenant(_settings(args), args.name, args.id))
    _print_credentials(found, args.json)
    return 0


def _key_create(args: argparse.Namespace) -> int:
    found = asyncio.run(_create_key(_settings(args), args.tenant, args.label))
    _print_credentials(found, args.json)
    return 0


def _sip_account_set(args: argparse.Namespace) -> int:
    settings = Settings()
    password = args.password if args.password is not None else sys.stdin.readline().rstrip("\n")
    path = Path(settings.sip_accounts_file)
    set_password(path, args.tenant, args.agent, settings.sip_realm, password)
    print(f"SIP account {args.tenant}_{args.agent} set in {path} (realm {settings.sip_realm!r})")
    return 0


def _database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help="SQLAlchemy URL (default: $HELPLINE_DATABASE_URL or sqlite+aiosqlite:///./helpline.db)",
    )


def _version() -> str:
    try:
        return importlib.metadata.version("helpline")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helpline",
        description="Helpline: an open-source, self-hosted programmable contact center.",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"helpline {_version()}, engine {BUILD.description}",
        help="print the version and which build of the engine runs (compiled or pure Python)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the contact center: REST API, sandbox carrier, webhooks",
        description="Run Helpline as a service. With --demo, a demo tenant (the sample flow of "
        "seed 000 section 1: a two-language IVR, three queues, three groups) is created on the "
        "embedded SQLite database and its credentials printed.",
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    _database_option(serve)
    add_sip_options(serve)
    serve.add_argument(
        "--media-workers",
        type=int,
        metavar="N",
        help="worker processes for browser calls' media (default: one per core; 0: in the "
        "server process; $HELPLINE_MEDIA_WORKERS)",
    )
    serve.add_argument("--demo", action="store_true", help="seed and print a demo tenant")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    serve.set_defaults(run=_serve)

    tenant = commands.add_parser("tenant", help="manage tenants")
    tenant_commands = tenant.add_subparsers(dest="tenant_command", required=True)
    tenant_create = tenant_commands.add_parser(
        "create", help="create a tenant and its first API key"
    )
    tenant_create.add_argument("name")
    tenant_create.add_argument("--id", help="choose the tenant id (default: generated)")
    tenant_create.add_argument("--json", action="store_true", help="print JSON for scripts")
    _database_option(tenant_create)
    tenant_create.set_defaults(run=_tenant_create)

    key = commands.add_parser("key", help="manage API keys")
    key_commands = key.add_subparsers(dest="key_command", required=True)
    key_create = key_commands.add_parser("create", help="create an API key for a tenant")
    key_create.add_argument("tenant", help="the tenant id")
    key_create.add_argument("--label", default="", help="what the key is for")
    key_create.add_argument("--json", action="store_true", help="print JSON for scripts")
    _database_option(key_create)
    key_create.set_defaults(run=_key_create)

    sip_account = commands.add_parser(
        "sip-account", help="agents' SIP phone accounts (user name TENANT_AGENT)"
    )
    sip_commands = sip_account.add_subparsers(dest="sip_command", required=True)
    sip_set = sip_commands.add_parser(
        "set",
        help="set an agent's SIP password (stored as digest HA1s in $HELPLINE_SIP_ACCOUNTS_FILE)",
    )
    sip_set.add_argument("tenant", help="the tenant id")
    sip_set.add_argument("agent", help="the agent id")
    sip_set.add_argument("--password", help="the password (default: read from stdin)")
    sip_set.set_defaults(run=_sip_account_set)

    add_simulate_command(commands)

    config = commands.add_parser("config", help="check or export a center document")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a center document")
    check.add_argument("center")
    check.set_defaults(run=_config_check)
    export = config_commands.add_parser("export", help="print the normalised document as JSON")
    export.add_argument("center")
    export.set_defaults(run=_config_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except BrokenPipeError:
        return 0
    except HelplineError as error:
        Console(stderr=True).print(f"[red]error:[/red] {error.message}")
        for extra in error.details.get("errors", [])[1:]:
            Console(stderr=True).print(f"[red]error:[/red] {extra['path']}: {extra['message']}")
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
