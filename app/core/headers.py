"""Security headers on every response.

``Content-Security-Policy`` with ``frame-ancestors 'none'`` (no page, the consent screen
first, can be framed by another site to trick a click), scripts, styles and everything else
from this site only (the pages have no inline script or style); the API documentation's
Swagger UI page, whose bundle starts with an inline script, may run inline scripts, and
nothing else relaxes.  ``X-Frame-Options: DENY`` for browsers that predate CSP 2,
``nosniff``, and no referrer beyond this origin.
"""

from __future__ import annotations

from typing import Any

from flask import request

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
# The Swagger UI page (flask-smorest's template) boots with an inline script and styles.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
DOCS_PATH = "/api/docs"


def security_headers(response: Any) -> Any:
    response.headers.setdefault("Content-Security-Policy", DOCS_CSP if request.path == DOCS_PATH else CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
