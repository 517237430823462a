"""Recordings (issue 18): listed per call and per order, the audio streamed as WAV, each
listen or download audited (who, when, which). Supervisors of the recording's site and
the agents who took part may hear it (services/recordings/access.py); anyone else 403.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from services.api.core import Ctx, Operation, _ready
from services.api.errors import ApiError, Forbidden, NotFound
from services.api.shapes import AGENTS, INT, NAME, ORDER_ID, STR, listing, shape
from services.recordings.access import may_hear
from services.recordings.library import RecordingLibrary
from services.recordings.store import RecordingInfo, RecordingStore

HEARERS = (*AGENTS, "supervisor")
RECORDING_ID = {"type": "string", "pattern": r"^rec-[0-9a-f]{1,32}-[0-9a-f]{8}$"}
RECORDING_OUT = shape(
    ["recording_id", "call_id", "site", "platform", "seats", "order_ids", "started_at",
     "ended_at", "deleted", "available", "duration_s"],
    recording_id=STR, call_id=STR, site=STR, platform=STR,
    seats={"type": "array", "items": STR}, order_ids={"type": "array", "items": STR},
    started_at=STR, ended_at={"type": ["string", "null"]}, deleted={"type": "boolean"},
    available={"type": "boolean"}, duration_s={"type": ["number", "null"]},
    bytes={"type": ["integer", "null"]})
AUDIT_ROW = shape(["id", "at", "actor", "role", "action"], id=INT, at=STR, actor=STR,
                  role=STR, action=STR, recording_id={"type": ["string", "null"]},
                  call_id={"type": ["string", "null"]}, detail={"type": "object"})


def _library(ctx: Ctx) -> RecordingLibrary:
    library = ctx.deps.recordings
    if library is None:
        raise ApiError("recordings are not configured", error_id="unavailable", status=503,
                       service="recordings")
    return library


def _store(ctx: Ctx) -> RecordingStore:
    return _ready(lambda: _library(ctx).store, "recordings")


def _visible(ctx: Ctx, found: list[RecordingInfo], what: str) -> list[RecordingInfo]:
    """What this user may hear of `found`: 403 when there are recordings but none is theirs."""
    mine = [info for info in found if may_hear(ctx.user, info.site, info.seats)]
    if found and not mine:
        raise Forbidden(f"the recordings of this {what} are not yours to hear",
                        error_id="not_your_recording")
    return mine


async def call_recordings(ctx: Ctx) -> dict[str, Any]:
    found = await _store(ctx).for_call(ctx.params["call_id"])
    library = _library(ctx)
    return {"recordings": [library.describe(i) for i in _visible(ctx, found, "call")]}


async def order_recordings(ctx: Ctx) -> dict[str, Any]:
    found = await _store(ctx).for_order(ctx.params["order_id"])
    library = _library(ctx)
    return {"recordings": [library.describe(i) for i in _visible(ctx, found, "order")]}


async def _one(ctx: Ctx) -> RecordingInfo:
    info = await _store(ctx).get(ctx.params["recording_id"])
    if info is None:
        raise NotFound("no such recording", error_id="recording_not_found")
    if not may_hear(ctx.user, info.site, info.seats):
        await _store(ctx).audit(ctx.user.name, ctx.user.role, "refused", info.recording_id,
                                info.call_id, remote=ctx.request.remote)
        raise Forbidden("this recording is not yours to hear", error_id="not_your_recording")
    return info


async def get_recording(ctx: Ctx) -> dict[str, Any]:
    return _library(ctx).describe(await _one(ctx))


async def recording_audio(ctx: Ctx) -> web.StreamResponse:
    """The WAV, streamed from the switch's file; `download=true` asks the browser to save
    it. Audited before a byte is sent."""
    info = await _one(ctx)
    path = _library(ctx).audio(info)
    if path is None:
        raise ApiError("the audio is gone (expired) or not written yet",
                       error_id="audio_unavailable", status=410 if info.deleted_at else 404)
    download = bool(ctx.query.get("download"))
    await _store(ctx).audit(ctx.user.name, ctx.user.role, "download" if download else "listen",
                            info.recording_id, info.call_id, remote=ctx.request.remote)
    headers = {"Content-Type": "audio/wav"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="{info.recording_id}.wav"'
    return web.FileResponse(path, headers=headers)


async def recording_audit(ctx: Ctx) -> dict[str, Any]:
    """The audit of one recording (kept after its audio expired)."""
    store = _store(ctx)
    info = await store.get(ctx.params["recording_id"])
    if info is None:
        raise NotFound("no such recording", error_id="recording_not_found")
    if not ctx.user.covers_site(info.site):
        raise Forbidden("this recording belongs to another site", error_id="other_site")
    return {"entries": await store.audit_trail(recording_id=info.recording_id)}


REC_PARAMS = {"recording_id": RECORDING_ID}
OPERATIONS = [
    Operation("GET", "/calls/{call_id}/recordings", call_recordings,
              "The recordings of a call, at every site it visited", "recordings",
              roles=HEARERS, params={"call_id": NAME}, errors=(403,),
              ok_schema=listing("recordings", RECORDING_OUT),
              description="Supervisors of the recording's site and the agents who took part "
              "see a recording; 403 `not_your_recording` when the call has recordings but "
              "none is the user's. Live and ended calls alike."),
    Operation("GET", "/orders/{order_id}/recordings", order_recordings,
              "The recordings linked to an order (both platforms' after a hand-over)",
              "recordings", roles=HEARERS, params={"order_id": ORDER_ID}, errors=(403,),
              ok_schema=listing("recordings", RECORDING_OUT)),
    Operation("GET", "/recordings/{recording_id}", get_recording, "One recording",
              "recordings", roles=HEARERS, params=REC_PARAMS, errors=(403,),
              ok_schema=RECORDING_OUT),
    Operation("GET", "/recordings/{recording_id}/audio", recording_audio,
              "The recording's audio as WAV (listen, or download=true); audited",
              "recordings", roles=HEARERS, params=REC_PARAMS, errors=(403, 410),
              query={"download": {"type": "boolean"}}, ok_media="audio/wav",
              description="Streamed. Every listen and download is written to the "
              "recording's audit (who, when, which) before the audio is sent; a refused "
              "attempt is audited too. 410 `audio_unavailable` once retention deleted it."),
    Operation("GET", "/recordings/{recording_id}/audit", recording_audit,
              "Who heard, downloaded or deleted a recording, and when", "recordings",
              roles=("supervisor",), params=REC_PARAMS, errors=(403,),
              ok_schema=listing("entries", AUDIT_ROW)),
]
