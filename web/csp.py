"""Content-Security-Policy on every response: the browser runs only the portal's own scripts and styles.

The web interface (frontend/dist) is Vite's build: index.html loads one module script and one stylesheet from
/assets/ and has no inline <script> or <style> (React's style={{...}} props set CSSOM properties, which CSP does
not block); its favicon is a data: URL; the live view connects to /ws/ over ws: or wss:. The admin's templates
have no inline scripts or styles either.

Under /api/ the HTML is drf-spectacular's Swagger UI (/api/docs/, served as SpectacularSwaggerSplitView so its
start-up script is a file of its own rather than an inline <script>) and DRF's browsable API: both keep inline
<style> blocks and style attributes, so there, and only there, styles may be inline. Scripts stay 'self' only.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"

DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "font-src": "'self'",
    "connect-src": "'self' ws: wss:",  # the round's live websocket (ws: over HTTP, wss: behind HTTPS)
    "frame-ancestors": "'none'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
}
# Swagger UI and DRF's browsable API (/api/...): inline styles, never inline scripts.
API_DIRECTIVES = {**DIRECTIVES, "style-src": "'self' 'unsafe-inline'"}


def render(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


POLICY = render(DIRECTIVES)
API_POLICY = render(API_DIRECTIVES)


def policy_for(path: str) -> str:
    return API_POLICY if path.startswith("/api/") else POLICY


class ContentSecurityPolicyMiddleware:
    """Sets the policy for the request's path unless the view set one of its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if HEADER not in response:
            response[HEADER] = policy_for(request.path)
        return response
