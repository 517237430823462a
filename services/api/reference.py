"""`GET /api/v1/reference`: the OpenAPI document rendered by Swagger UI, whose files come
from the swagger-ui-py package and are served here (no CDN). The page gets its own CSP,
which allows only this server ('self')."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from aiohttp import web

from services.api.core import Ctx, Operation

STATIC = Path(__file__).with_name("static")
SWAGGER_UI = Path(str(files("swagger_ui") / "static"))
ASSETS = {"swagger-ui.css": SWAGGER_UI / "swagger-ui.css",
          "swagger-ui-bundle.js": SWAGGER_UI / "swagger-ui-bundle.js",
          "reference.js": STATIC / "reference.js"}
# set on the response; api_headers (app.py) sends it instead of the API's own CSP
PAGE_CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")
CSP_KEY = web.ResponseKey("hotline_csp", str)


_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


def _file(path: Path) -> web.FileResponse:
    # the type is named here, not guessed from the machine's MIME table (it differs by host)
    response = web.FileResponse(path, headers={"Content-Type": _TYPES[path.suffix]})
    response[CSP_KEY] = PAGE_CSP
    return response


async def reference_page(_ctx: Ctx) -> web.StreamResponse:
    return _file(STATIC / "reference.html")


async def reference_asset(ctx: Ctx) -> web.StreamResponse:
    return _file(ASSETS[ctx.params["asset"]])


OPERATIONS: list[Operation] = [
    Operation("GET", "/reference", reference_page, "This API's reference page (Swagger UI)",
              "meta", authenticated=False, ok_media="text/html",
              description="Reads `/api/v1/openapi.json` with the session of the desk or "
              "board open in the same browser tab."),
    Operation("GET", "/reference/{asset}", reference_asset, "A file of the reference page",
              "meta", authenticated=False, ok_media="text/javascript", ok_media_alt=("text/css",),
              params={"asset": {"type": "string", "enum": sorted(ASSETS)}}),
]
