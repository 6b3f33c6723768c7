"""``vacuum serve``: run the HTTP service (FastAPI on uvicorn).

    vacuum serve [--host 127.0.0.1] [--port 8000] [--workspace DIR] [--demo]

Settings come from ``VACUUM_*`` environment variables (see docs/service.md); the options
here override them. ``--demo`` loads the bundled MINUSCA data as layers, runs its analysis
at startup if absent, and serves its map at ``/`` (anonymous viewers allowed unless
``--anonymous-role none``).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from pathlib import Path

__all__ = ["register", "run_serve"]


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP service: layers, analyses, tiles, exports, the web map",
                              description=__doc__)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workspace", type=Path, help="workspace folder (default $VACUUM_WORKSPACE or ./vacuum-workspace)")
    p.add_argument("--demo", action="store_true",
                   help="load the bundled MINUSCA demo and run its analysis if absent; map at /")
    p.add_argument("--demo-resolution", type=float, metavar="M", help="grid cell size of the demo analysis (default 1000)")
    p.add_argument("--workers", type=int, help="background worker processes for jobs (default 2)")
    p.add_argument("--anonymous-role", choices=("none", "viewer", "planner"),
                   help="role of requests without a key (default: none; viewer with --demo)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                   help="server log level")
    p.set_defaults(func=run_serve)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _settings(args: argparse.Namespace):
    from pydantic import ValidationError

    from api.settings import Settings
    from cli.main import CLIError

    over: dict = {}
    if args.workspace is not None:
        over["workspace"] = args.workspace
    if args.demo:
        over["demo"] = True
    if args.demo_resolution is not None:
        over["demo_resolution_m"] = args.demo_resolution
    if args.workers is not None:
        over["workers"] = args.workers
    if args.anonymous_role is not None:
        over["anonymous_role"] = None if args.anonymous_role == "none" else args.anonymous_role
    elif args.demo and "VACUUM_ANONYMOUS_ROLE" not in os.environ:
        over["anonymous_role"] = "viewer"
    try:
        settings = Settings(**over)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            field = ".".join(str(x) for x in e.get("loc", ()))
            msg = str(e.get("msg", "")).removeprefix("Value error, ")
            msgs.append(f"{('VACUUM_' + field.upper() + ': ') if field else ''}{msg}")
        raise CLIError("bad settings: " + "; ".join(msgs)) from None
    if settings.anonymous_role == "planner" and not _is_loopback(args.host):
        raise CLIError(f"--anonymous-role planner exposes base positions to anyone who can reach {args.host}; "
                       "allowed only on a loopback address (127.0.0.1)")
    return settings


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = _settings(args)
    if settings.database_url is None:  # the embedded store: refuse a broken workspace in one line, before listening
        from api.storage.sqlite import check_workspace

        check_workspace(settings.workspace)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(levelname)s %(name)s: %(message)s")
    if settings.admin_key is None and settings.anonymous_role is None:
        print("vacuum serve: no VACUUM_ADMIN_KEY set and no anonymous role: only keys already in the workspace "
              "will work", file=sys.stderr)
    print(f"vacuum serve: http://{args.host}:{args.port}/ (map), /docs (API); workspace {settings.workspace}, "
          f"storage {settings.backend}, {settings.workers} worker process(es)"
          + (f", anonymous {settings.anonymous_role}" if settings.anonymous_role else ""), file=sys.stderr)
    # slow or hostile clients: idle keep-alive connections closed, request heads capped, connections bounded
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=10, timeout_keep_alive=settings.timeout_keep_alive_s,
                h11_max_incomplete_event_size=settings.max_header_kb * 1024,
                limit_concurrency=settings.limit_concurrency, server_header=False)
    return 0
