"""Theming settings: what an app names is checked once, at start-up, with a message saying what to fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import SECRET_KEY
from twofa_middleware import Settings, SQLAlchemyStore, TwoFactorMiddleware

GOOD_LAYOUT = """<!doctype html><html><head><title>{% block title %}{% endblock %}</title>
{% include "twofa_head.html" %}</head><body><main>{% block content %}{% endblock %}</main></body></html>"""


def _app(environ, start_response):  # the wrapped app is never reached here
    start_response("204 No Content", [])
    return []


def start(tmp_path: Path, **options) -> TwoFactorMiddleware:
    store = SQLAlchemyStore(f"sqlite:///{tmp_path}/t.db")
    try:
        return TwoFactorMiddleware(
            _app, secret_key=SECRET_KEY, store=store, identify=lambda environ: None,
            check_password=lambda user, password: False, **options,
        )
    finally:
        store.dispose()


def folder(tmp_path: Path, **templates: str) -> Path:
    path = tmp_path / "templates"
    path.mkdir(exist_ok=True)
    for name, source in templates.items():
        (path / name.replace("__", "/")).parent.mkdir(parents=True, exist_ok=True)
        (path / name.replace("__", "/")).write_text(source)
    return path


@pytest.mark.parametrize(
    "options, message",
    [
        pytest.param({"template_folder": "/no/such/folder"}, "template_folder must be an existing directory",
                     id="missing-folder"),
        pytest.param({"template_folder": 42}, "template_folder must be an existing directory", id="folder-not-a-path"),
        pytest.param({"base_template": "../layout.html"}, "base_template must be a template name", id="dot-dot"),
        pytest.param({"base_template": "/etc/layout.html"}, "base_template must be a template name", id="absolute"),
        pytest.param({"base_template": ".layout.html"}, "base_template must be a template name", id="hidden"),
        pytest.param({"base_template": "a\\b.html"}, "base_template must be a template name", id="backslash"),
        pytest.param({"base_template": "layout.html\n"}, "base_template must be a template name", id="newline"),
        pytest.param({"base_template": ""}, "base_template must be a template name", id="empty"),
        pytest.param({"base_template": ["layout.html"]}, "base_template must be a template name", id="not-a-string"),
    ],
)
def test_settings_refuse_unusable_template_options(options, message):
    with pytest.raises(ValueError, match=message):
        Settings(**options)


@pytest.mark.parametrize(
    "templates, base, message",
    [
        pytest.param({}, "layout.html", "template 'layout.html' not found", id="missing"),
        pytest.param({"layout.html": GOOD_LAYOUT}, "layuot.html", "template 'layuot.html' not found", id="typo"),
        pytest.param({"layout.html": "{% block title %}"}, "layout.html", "does not parse", id="syntax-error"),
        pytest.param({"layout.html": GOOD_LAYOUT.replace("{% block content %}{% endblock %}", "")}, "layout.html",
                     "must define the blocks content", id="no-content-block"),
        pytest.param({"layout.html": GOOD_LAYOUT.replace('{% include "twofa_head.html" %}', "")}, "layout.html",
                     'must put {% include "twofa_head.html" %} in its <head>', id="no-stylesheet"),
        pytest.param({"layout.html": '{% extends "site.html" %}'}, "layout.html", "template 'site.html' not found",
                     id="parent-missing"),
        pytest.param({"layout.html": '{% extends "layout.html" %}'}, "layout.html", "extends itself", id="loop"),
        pytest.param({"layout.html": '{% extends "base.html" %}'}, "layout.html",
                     "cannot extend the built-in base.html", id="extends-the-built-in-frame"),
        pytest.param({"base.html": GOOD_LAYOUT}, "base.html", "base_template cannot be 'base.html'",
                     id="the-built-in-name"),
    ],
)
def test_an_unusable_base_template_stops_the_start(tmp_path, templates, base, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        start(tmp_path, template_folder=folder(tmp_path, **templates), base_template=base)


def test_a_base_template_without_a_template_folder_names_where_it_was_looked_for(tmp_path):
    with pytest.raises(ValueError, match="not found in template_folder or the built-in templates"):
        start(tmp_path, base_template="layout.html")


@pytest.mark.parametrize(
    "templates",
    [
        pytest.param({"layout.html": GOOD_LAYOUT}, id="one-file"),
        pytest.param(
            {
                "site.html": "<html><head>{% block head %}{% endblock %}<title>{% block title %}{% endblock %}"
                             "</title></head><body>{% block content %}{% endblock %}</body></html>",
                "layout.html": '{% extends "site.html" %}{% block head %}{% include "twofa_head.html" %}{% endblock %}',
            },
            id="blocks-from-the-app-s-own-parent",
        ),
        pytest.param({"parts__layout.html": GOOD_LAYOUT}, id="in-a-subfolder"),
    ],
)
def test_a_usable_base_template_starts(tmp_path, templates):
    base = next(name for name in templates if name.endswith("layout.html")).replace("__", "/")
    middleware = start(tmp_path, template_folder=folder(tmp_path, **templates), base_template=base)
    assert middleware.settings.base_template == base
