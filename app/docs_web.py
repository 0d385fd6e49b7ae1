"""The bank integration guide (接入指南) as a page: ``/docs/integration``.

``docs/integration.md`` is the source.  The page's template holds it rendered (the Markdown
file is not installed with the package), built by :func:`build_template`; a test keeps the two
the same.  After changing the guide::

    python -m app.docs_web
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("docs_web", __name__)

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "docs" / "integration.md"
TEMPLATE = Path(__file__).resolve().parent / "templates" / "docs" / "integration.html"


@bp.get("/docs/integration")
def integration() -> Any:
    """Public: the bank integration guide."""
    resp = render_template("docs/integration.html")
    return resp, 200, {"Cache-Control": "public, max-age=300"}


# --- the template, built from the Markdown -------------------------------------------------------

_HEAD = """{# Built from docs/integration.md by `python -m app.docs_web`: edit the Markdown, not this file. #}
{% extends "base.html" %}
{% block title %}金融机构接入指南{% endblock %}
{% block content %}
<article class="card doc">
{% raw %}
"""
_TAIL = """{% endraw %}
</article>
{% endblock %}
"""


def slug(text: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as
    hyphens (CJK characters kept), so the guide's links work there and on the page."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def render_markdown(text: str) -> str:
    """The guide's Markdown as HTML: CommonMark with tables, no raw HTML, an ``id`` on each
    heading (its GitHub anchor)."""
    from markdown_it import MarkdownIt  # building the template only (ships with rich)

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            token.attrSet("id", slug(tokens[i + 1].content))
    return str(md.renderer.render(tokens, md.options, {}))


def build_template(markdown: str) -> str:
    html = render_markdown(markdown)
    if "{% endraw %}" in html:
        raise ValueError("the guide may not contain {% endraw %}")
    return _HEAD + html + _TAIL


if __name__ == "__main__":
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    TEMPLATE.write_text(build_template(SOURCE.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"{TEMPLATE.relative_to(ROOT)} ← {SOURCE.relative_to(ROOT)}")
