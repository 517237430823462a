"""The agent desktop (/desk) and the supervisor board (/board): static pages served by
the controller. They log in with `POST /api/v1/session` and then read the API and its
`/api/v1/events` WebSocket; nothing here talks to the call controller directly."""
from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
PAGES = {"/desk": "desk.html", "/board": "board.html"}
# Scripts only from this server (no inline script, no eval); inline style attributes are
# used by the pages' markup. The events WebSocket is this host's (named as well as 'self':
# older browsers do not match ws: with 'self'). Recordings play from blob: URLs: the audio
# is fetched with the session's Authorization header, which an <audio src> cannot send.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; media-src 'self' blob:; "
       "connect-src 'self' ws://{host} wss://{host}; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # pages show citizens' data once logged in: no copy on disk, none in a shared cache
    "Cache-Control": "no-store",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response of the app gets the CSP and PAGE_HEADERS."""
    host = "".join(c for c in request.host if c.isalnum() or c in ".-:[]") or "localhost"
    response.headers["Content-Security-Policy"] = CSP.format(host=host)
    for name, value in PAGE_HEADERS.items():
        response.headers[name] = value


def _page(name: str):
    path = STATIC_DIR / name

    async def serve(request: web.Request) -> web.FileResponse:
        # pages change with the checkout; a browser should not keep an old one (the
        # security headers make it no-store)
        return web.FileResponse(path, headers={"Cache-Control": "no-store"})
    return serve


async def _home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/desk")


def add_web_routes(app: web.Application) -> None:
    """`GET /desk`, `GET /board`, `/static/*`, and `/` redirecting to the desk; every
    response of `app` gets the security headers (CSP, X-Frame-Options, no-store)."""
    app.on_response_prepare.append(security_headers)
    for route, name in PAGES.items():
        app.router.add_get(route, _page(name))
    app.router.add_get("/", _home)
    app.router.add_static("/static/", STATIC_DIR, name="static")
