"""The pages' Jinja environment: the app's template folder first, then the built-in templates.

Template names come from the settings only, never from a request, and the app's base
template is checked here, once at start-up, so a typo fails loudly before the first
request instead of as a 500 on every page.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    TemplateError,
    TemplateNotFound,
    nodes,
    select_autoescape,
)

from ..config import Settings

BUILT_IN_FOLDER = Path(str(resources.files("twofa_middleware.web") / "templates")).resolve()
BUILT_IN_BASE = "base.html"
HEAD = "twofa_head.html"  # what an app's base template includes in its <head>
REQUIRED_BLOCKS = ("title", "content")


def environment(settings: Settings) -> Environment:
    """The environment every page renders in; raises ``ValueError`` for an unusable base template."""
    loaders: list[BaseLoader] = [PackageLoader("twofa_middleware.web", "templates")]
    if settings.template_folder is not None:
        loaders.insert(0, FileSystemLoader(settings.template_folder))
    env = Environment(
        loader=ChoiceLoader(loaders), autoescape=select_autoescape(default=True), extensions=["jinja2.ext.i18n"]
    )
    # English until a render passes its request's language (Language.template_values):
    # the shared Environment never holds one request's catalog.
    env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    env.policies["ext.i18n.trimmed"] = True
    env.globals["base_template"] = settings.base_template
    if settings.base_template is not None:
        check_base_template(env, settings.base_template)
    return env


def check_base_template(env: Environment, name: str) -> None:
    """``name`` exists, parses, and (with the templates it extends) defines the blocks the
    pages fill and includes :data:`HEAD`."""
    if name == BUILT_IN_BASE:
        raise ValueError(
            f"base_template cannot be {BUILT_IN_BASE!r}, the built-in frame's own name: name your layout "
            f"otherwise, or put a {BUILT_IN_BASE} in template_folder to replace the frame"
        )
    blocks: set[str] = set()
    includes: set[str] = set()
    seen: list[str] = []
    current: str | None = name
    while current is not None:
        if current in seen:
            raise ValueError(f"base_template {name!r} extends itself through {' -> '.join([*seen, current])}")
        seen.append(current)
        tree, filename = _parse(env, current, name)
        if current == BUILT_IN_BASE and _built_in(filename):
            raise ValueError(f"base_template {name!r} cannot extend the built-in {BUILT_IN_BASE}, which extends it")
        blocks.update(block.name for block in tree.find_all(nodes.Block))
        includes.update(
            include.template.value for include in tree.find_all(nodes.Include)
            if isinstance(include.template, nodes.Const)
        )
        current = _parent(tree)
    missing = [block for block in REQUIRED_BLOCKS if block not in blocks]
    if missing:
        raise ValueError(f"base_template {name!r} must define the blocks {', '.join(missing)}")
    if HEAD not in includes:
        raise ValueError(f'base_template {name!r} must put {{% include "{HEAD}" %}} in its <head>')


def _parse(env: Environment, template: str, base: str) -> tuple[nodes.Template, str | None]:
    try:
        source, filename, _ = env.loader.get_source(env, template)  # type: ignore[union-attr]
        return env.parse(source, template), filename
    except TemplateNotFound:
        where = "template_folder or the built-in templates"
        raise ValueError(f"base_template {base!r}: template {template!r} not found in {where}") from None
    except TemplateError as exc:
        raise ValueError(f"base_template {base!r}: {template!r} does not parse: {exc}") from None


def _built_in(filename: str | None) -> bool:
    return filename is not None and Path(filename).resolve().parent == BUILT_IN_FOLDER


def _parent(tree: nodes.Template) -> str | None:
    """The template ``tree`` extends by a literal name; None when it extends none (or a variable)."""
    extends = next(iter(tree.find_all(nodes.Extends)), None)
    if extends is None or not isinstance(extends.template, nodes.Const):
        return None
    parent = extends.template.value
    return parent if isinstance(parent, str) else None
