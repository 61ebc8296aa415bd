"""Theming over HTTP: an app's template folder replaces one page, and its layout frames them all.

A tiny WSGI app (a true boundary) wrapped by the middleware, served on loopback; alice is
signed in and has 2FA on, so the verify page is hers to see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import SECRET_KEY, serve
from twofa_middleware import Identity, SQLAlchemyStore, TwoFactorMiddleware
from twofa_middleware.web.http import CSP

LAYOUT = """<!doctype html>
<html lang="en"><head><title>{% block title %}{% endblock %} | Acme</title>
{% include "twofa_head.html" %}<link rel="stylesheet" href="/static/acme.css"></head>
<body><header id="acme-header">Acme Corp{% if user_id %} ({{ user_id }}){% endif %}</header>
<main>{% block content %}{% endblock %}</main></body></html>
"""

VERIFY = """{% extends "base.html" %}
{% block content %}<h1>Acme's own verify page</h1>{% endblock %}
"""


def _app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the app"]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """``live(templates, **options)``: the URL of the wrapped app with those templates in its folder."""
    running: list[tuple[object, SQLAlchemyStore]] = []

    def start(templates: dict[str, str], **options: object) -> str:
        folder = tmp_path / f"templates{len(running)}"
        folder.mkdir()
        for name, source in templates.items():
            (folder / name).write_text(source)
        store = SQLAlchemyStore(f"sqlite:///{tmp_path}/t{len(running)}.db")
        middleware = TwoFactorMiddleware(
            _app, secret_key=SECRET_KEY, store=store, identify=lambda environ: Identity("alice", "n1"),
            check_password=lambda user, password: False, template_folder=str(folder), **options,
        )
        store.enable("alice", middleware.service.keyring.encrypt("JBSWY3DPEHPK3PXP"), 0, [], 0.0)
        url, server, _ = serve(middleware)
        running.append((server, store))
        return url

    yield start
    for server, store in running:
        server.shutdown()  # type: ignore[attr-defined]
        store.dispose()


def page(url: str) -> requests.Response:
    return requests.get(url, headers={"Accept": "text/html"}, timeout=10)


def test_a_template_in_the_folder_replaces_the_built_in_one_of_that_name_only(live):
    url = live({"verify.html": VERIFY})
    verify = page(url + "/_2fa/verify")
    assert verify.status_code == 200
    assert "<h1>Acme's own verify page</h1>" in verify.text
    assert 'name="code"' not in verify.text  # the built-in verify form is gone
    assert '<header class="tf-header">' in verify.text  # it still extends the built-in frame
    missing = page(url + "/_2fa/no-such-page")
    assert missing.status_code == 404 and "Acme" not in missing.text and '<p class="tf-error"' in missing.text


def test_the_pages_render_inside_the_app_s_base_template(live):
    url = live({"layout.html": LAYOUT}, base_template="layout.html")
    verify = page(url + "/_2fa/verify")
    assert verify.status_code == 200
    assert '<header id="acme-header">Acme Corp (alice)</header>' in verify.text
    assert "<title>Two-factor authentication | Acme</title>" in verify.text
    assert 'href="/_2fa/static/twofa.css"' in verify.text and 'href="/static/acme.css"' in verify.text
    assert 'name="code"' in verify.text and 'name="csrf_token"' in verify.text  # the page itself is whole
    assert "tf-header" not in verify.text  # no built-in frame inside the app's
    assert verify.headers["Content-Security-Policy"] == CSP
    missing = page(url + "/_2fa/no-such-page")  # error pages too, with no one signed in shown
    assert missing.status_code == 404 and '<header id="acme-header">Acme Corp</header>' in missing.text


def test_the_app_s_twofa_theme_links_its_stylesheet_in_the_built_in_frame(live):
    url = live({"twofa_theme.html": '<link rel="stylesheet" href="/static/brand.css">'})
    verify = page(url + "/_2fa/verify").text
    head = verify[: verify.index("</head>")]
    assert head.index("/_2fa/static/twofa.css") < head.index("/static/brand.css")
