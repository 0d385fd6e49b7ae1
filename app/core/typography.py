"""Table cells typeset as the PDF report is (``reports/typeset.py``): a code, number, date or
document number never breaks across lines.

A browser breaks ``2026-11-18`` after a hyphen and ``ECP-ZB-2026-0042`` at each of its three
(and a run of letters and digits only where ``overflow-wrap`` lets it, which the style sheet
does not in a table cell), so a narrow column squeezes a date to ``2026-`` over ``11-18``.
Every HTML page the site serves passes through :func:`keep_tokens_whole`: in the text of each
``<td>`` and ``<th>``, a code, number or date that a browser could break — letters and digits
joined by ``-`` or ``/`` (dates, months, tender and case numbers), or a 〔2022〕825号 document
number — is wrapped in ``<span class="nw">`` (CSS: ``white-space:nowrap``).  A column is then
never narrower than its longest such token; Chinese text still wraps between its characters,
and a date and its time may still stand on two lines.

Only text between tags is touched — never a tag, an attribute or an entity — and nothing inside
``<script>``, ``<style>``, ``<textarea>`` or ``<select>``."""

from __future__ import annotations

import re

from flask import Response

# Letters and digits joined by "-" or "/" (no & or ;, so an entity is never cut), holding a
# digit; or a document number's year in brackets and its number.
# A URL is left to break at its slashes.
_TOKEN = re.compile(r"[a-z]+://[^\s<]+|[〔［]\d{4}[〕］]\d+号|[0-9A-Za-z][0-9A-Za-z_.:]*(?:[-/][0-9A-Za-z_.:]+)+")
# A comment, or a tag whose quoted attribute values may hold ">".
_PIECES = re.compile(r"""(<!--.*?-->|</?[a-zA-Z!][^<>"']*(?:(?:"[^"]*"|'[^']*')[^<>"']*)*>)""", re.S)
_TAG_NAME = re.compile(r"</?([a-zA-Z][a-zA-Z0-9]*)")
_RAW = frozenset({"script", "style", "textarea", "select", "title"})
_CELLS = frozenset({"td", "th"})
WRAP_OPEN = '<span class="nw">'


def _wrap(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        token = m.group()
        if "://" in token or not any(c.isdigit() for c in token):
            return token
        return f"{WRAP_OPEN}{token}</span>"

    return _TOKEN.sub(one, text)


def keep_tokens_whole(html: str) -> str:
    """``html`` with each code, number and date in a table cell's text kept on one line."""
    if "<td" not in html and "<th" not in html:
        return html
    out: list[str] = []
    cells = 0  # open <td>/<th> elements
    raw: str | None = None  # the raw-text element we are inside, if any
    for piece in _PIECES.split(html):
        if not piece:
            continue
        if _PIECES.fullmatch(piece):
            out.append(piece)
            m = _TAG_NAME.match(piece)
            if m is None:
                continue
            name, closing = m.group(1).lower(), piece.startswith("</")
            if raw is not None:
                if closing and name == raw:
                    raw = None
            elif name in _RAW and not closing and not piece.endswith("/>"):
                raw = name
            elif name in _CELLS:
                cells = max(cells - 1, 0) if closing else cells + 1
            elif name == "tr":
                cells = 0  # a cell left unclosed ends with its row
            continue
        out.append(_wrap(piece) if cells and raw is None else piece)
    return "".join(out)


def typeset_html(response: Response) -> Response:
    """An ``after_request`` hook: HTML pages (not files, not streams) get :func:`keep_tokens_whole`."""
    if (response.mimetype == "text/html" and not response.direct_passthrough and not response.is_streamed
            and response.status_code != 304):
        html = response.get_data(as_text=True)
        typeset = keep_tokens_whole(html)
        if typeset is not html:
            response.set_data(typeset)
    return response
