"""The agent desktop (/desk) and the supervisor board (/board): static pages served by
the controller. They log in with `POST /api/v1/session` and then read the API and its
`/api/v1/events` WebSocket; nothing here talks to the call controller directly."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
PAGES = {"/desk": "desk.html", "/board": "board.html"}


def _page(name: str):
    path = STATIC_DIR / name

    async def serve(request: web.Request) -> web.FileResponse:
        # pages change with the checkout; a browser should not keep an old one
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})
    return serve


async def _home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/desk")


def add_web_routes(app: web.Application) -> None:
    """`GET /desk`, `GET /board`, `/static/*`, and `/` redirecting to the desk."""
    for route, name in PAGES.items():
        app.router.add_get(route, _page(name))
    app.router.add_get("/", _home)
    app.router.add_static("/static/", STATIC_DIR, name="static")
