"""Serves the built React app (frontend/dist): its assets, and index.html for every client-side route."""

from __future__ import annotations

import mimetypes

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import ensure_csrf_cookie

NOT_BUILT = (
    "<h1>DecentraHealth</h1><p>The web interface is not built. Run <code>python scripts/build_frontend.py"
    "</code> (scripts/setup.sh and the demo do this for you). The REST API is at "
    "<a href='/api/schema/'>/api/schema/</a>.</p>"
)


@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    dist = settings.FRONTEND_DIST.resolve()
    requested = (dist / request.path.lstrip("/")).resolve()
    if requested.is_file() and dist in requested.parents:
        content_type, _ = mimetypes.guess_type(str(requested))
        return HttpResponse(requested.read_bytes(), content_type=content_type)
    index_file = dist / "index.html"
    if index_file.is_file():
        return HttpResponse(index_file.read_bytes(), content_type="text/html")
    return HttpResponse(NOT_BUILT, status=503)
