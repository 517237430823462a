"""`hotline recordings expire [--at TIME]`: the retention job once, now (or as if at TIME),
as the controller runs it every HOTLINE_RECORDING_EXPIRY_S. Needs the order database and
the recording directories, never a call-control secret."""
from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from telephony.settings import (
    DEFAULT_TOPOLOGY,
    SettingsError,
    _load_toml,
    _recordings_dir,
    command_environment,
    orders_config,
)
from telephony.topology import parse_topology


def _at(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from exc
    if at.tzinfo is None:
        raise argparse.ArgumentTypeError("give the time with its zone, e.g. +00:00")
    return at


async def _expire(at: datetime | None) -> list[str]:
    from services.recordings.library import RecordingLibrary
    from services.recordings.store import RecordingStore
    from services.work_orders import db
    from telephony.recording import retention_of

    env = command_environment()
    topology = Path(env.get("HOTLINE_TOPOLOGY", DEFAULT_TOPOLOGY))
    sites, _, _ = parse_topology(_load_toml(topology))
    folder = _recordings_dir(env, env.get("HOTLINE_MODE") == "lab")
    if folder is None:
        raise SettingsError("HOTLINE_RECORDINGS_DIR is not set")
    engine = db.make_engine(orders_config().db_url)
    try:
        store = RecordingStore(db.make_session_factory(engine), lambda: datetime.now(UTC))
        library = RecordingLibrary(lambda: store, folder)
        return await store.expire(retention_of({s.name: s.recording for s in sites}),
                                  library.delete, now=at)
    finally:
        await engine.dispose()


def cmd_expire(args: argparse.Namespace) -> int:
    expired = asyncio.run(_expire(args.at))
    print(json.dumps({"expired": expired}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    recordings = sub.add_parser("recordings", help="call recordings (retention)")
    actions = recordings.add_subparsers(dest="action", required=True)
    expire = actions.add_parser("expire", help="delete audio past its site's retention "
                                "(an audit line each)")
    expire.add_argument("--at", type=_at, default=None,
                        help="as if it were this time (ISO, with zone); default now")
    expire.set_defaults(func=cmd_expire)
