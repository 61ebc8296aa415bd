"""The security-key calls of the JSON API, which the pages' script (twofa-webauthn.js) uses too.

Registered in :class:`~.api.Api`'s table, so they get its guard: JSON bodies only
(``Content-Type: application/json``, the API's CSRF stand-in), the second factor
and the password re-confirmation for registering, nothing more for signing in.
The RP ID and origins come from the settings, else from the request
(:func:`~twofa_middleware.security_keys.expected_origin_and_rp_id`).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from .. import security_keys as sk
from ..errors import InvalidSecurityKey
from ..security_key_service import SecurityKeySteps
from .context import Ctx
from .http import json_response, safe_next


def _where(ctx: Ctx) -> tuple[tuple[str, ...], str]:
    request, settings = ctx.request, ctx.settings
    return sk.expected_origin_and_rp_id(
        request.scheme, request.host, settings.webauthn_rp_id, settings.webauthn_origins
    )


def usable(ctx: Ctx) -> bool:
    """Whether security keys can work on this request's address (HTTPS at a domain name,
    ``http://localhost``, or configured origins): the pages offer them only then."""
    try:
        _where(ctx)
    except InvalidSecurityKey:
        return False
    return True


def _with_verified_cookie(ctx: Ctx, payload: dict[str, Any], status: int = 200, epoch: int | None = None) -> Response:
    """The verified cookie for ``epoch`` (the enrollment a key was checked under), else the current one."""
    ctx.refresh()
    response = json_response(payload, status)
    response.headers.add(*ctx.verified_cookie(ctx.state.epoch if epoch is None else epoch))
    return response


def register_begin(ctx: Ctx, body: dict[str, Any]) -> Response:
    _, rp_id = _where(ctx)
    options = SecurityKeySteps(ctx.service).register_begin(ctx.user_id, ctx.identity.session_key, rp_id)
    return json_response({"publicKey": options})


def register_finish(ctx: Ctx, body: dict[str, Any]) -> Response:
    """The first factor turns 2FA on: its recovery codes are in the answer, and ``next``
    is the page that shows them; the verified cookie is for the new epoch."""
    origins, rp_id = _where(ctx)
    name, added = SecurityKeySteps(ctx.service).register_finish(
        ctx.user_id, ctx.identity.session_key, body["credential"], body["name"],
        rp_id=rp_id, origins=origins, ip=ctx.ip, epoch=ctx.state.epoch,
    )
    home = ctx.settings.home_url
    if added.recovery_codes:
        next_url = ctx.setup_codes_url(ctx.urls("account", next=home), added.tokens_revoked)
    else:
        next_url = ctx.urls("account", added=1, next=home)
    payload = {"kind": "webauthn", "name": name, "recovery_codes": added.recovery_codes,
               "tokens_revoked": added.tokens_revoked, "next": next_url}
    return _with_verified_cookie(ctx, payload, 201)


def authenticate_begin(ctx: Ctx, body: dict[str, Any]) -> Response:
    _, rp_id = _where(ctx)
    options = SecurityKeySteps(ctx.service).authenticate_begin(ctx.user_id, ctx.identity.session_key, rp_id)
    return json_response({"publicKey": options})


def authenticate_finish(ctx: Ctx, body: dict[str, Any]) -> Response:
    origins, rp_id = _where(ctx)
    epoch = ctx.state.epoch  # the enrollment the key is checked under: the cookie is for it only
    method = SecurityKeySteps(ctx.service).authenticate_finish(
        ctx.user_id, ctx.identity.session_key, body["credential"], rp_id=rp_id, origins=origins, ip=ctx.ip
    )
    next_url = safe_next(body.get("next"), ctx.settings.home_url)
    return _with_verified_cookie(ctx, {"verified": True, "method": method, "next": next_url}, epoch=epoch)
