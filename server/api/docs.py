"""Interactive API documentation: Swagger UI served from the swagger-ui-bundle package (no CDN)."""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from server.web.auth import PUBLIC, access

bp = Blueprint("docs", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fieldsync API</title>
<link rel="stylesheet" href="/api/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/docs/assets/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script></body></html>"""

_INIT = 'window.ui = SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#swagger-ui"});'


@bp.route("/api/docs")
@access(PUBLIC)
def docs_page() -> Response:
    return Response(_PAGE, mimetype="text/html")


@bp.route("/api/docs/init.js")
@access(PUBLIC)
def docs_init() -> Response:
    return Response(_INIT, mimetype="application/javascript")


@bp.route("/api/docs/assets/<path:filename>")
@access(PUBLIC)
def docs_assets(filename: str) -> Response:
    return send_from_directory(swagger_ui_path, filename, max_age=3600)
