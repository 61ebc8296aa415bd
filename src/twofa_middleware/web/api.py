"""The JSON API under ``{mount}/api``: every 2FA step, for API callers and single-page apps.

Each handler checks the request, calls the one service step the HTML pages also
call, and answers JSON. Errors are raised as :class:`TwoFactorError` and turned
into ``{"error": code, "message": ...}`` by :class:`TwoFactorWeb`.

A POST must say ``Content-Type: application/json``: a cross-site form cannot
send that, and a cross-site script cannot without a CORS preflight this API
never grants, so it stands in for the pages' CSRF token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from importlib import resources
from typing import Any

from werkzeug.wrappers import Response

from ..config import Settings
from ..errors import InvalidRequest, PasswordRequired, RememberOff, TwoFactorError
from ..i18n import N_
from ..inputs import check_json
from ..store.base import AuthenticatorRecord, TokenRecord, TrustedBrowserRecord
from ..times import rfc3339
from . import security_key_api
from .context import Ctx
from .http import error_json, json_response, secure
from .routes import AUTHENTICATOR_ID, BROWSER_ID, TOKEN_ID, Access
from .trust import remember, this_browser

Body = dict[str, Any]
Handler = Callable[[Ctx, Body], Response]



class UnsupportedMediaType(TwoFactorError):
    code = "unsupported_media_type"
    status = 415
    message = N_("Send the request body as JSON with Content-Type: application/json.")


class UnprocessableBody(InvalidRequest):
    """Well-formed JSON, but not the fields this call takes (a typo must not pass silently).

    :param field: the missing or unknown field.
    """

    status = 422

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message, field=repr(field))
        self.field = field


def token_json(record: TokenRecord) -> dict[str, Any]:
    """What a token's owner may see of it: never the token itself, which is not stored."""
    return {
        "id": record.id,
        "name": record.name,
        "prefix": record.prefix,
        "created_at": rfc3339(record.created_at),
        "expires_at": rfc3339(record.expires_at),
        "last_used_at": rfc3339(record.last_used_at),
        "paths": list(record.paths),
    }


def authenticator_json(record: AuthenticatorRecord) -> dict[str, Any]:
    """What the API shows of a factor: never key material, not even a public key."""
    return {
        "id": record.id,
        "kind": record.kind,
        "name": record.name,
        "created_at": rfc3339(record.created_at),
        "last_used_at": rfc3339(record.last_used_at),
    }


def browser_json(record: TrustedBrowserRecord, this_browser_id: int | None) -> dict[str, Any]:
    """What the user may see of a trusted browser: never the cookie's secret nor its hash."""
    return {
        "id": record.id,
        "label": record.label,
        "ip": record.ip,
        "created_at": rfc3339(record.created_at),
        "last_used_at": rfc3339(record.last_used_at),
        "expires_at": rfc3339(record.expires_at),
        "this_browser": record.id == this_browser_id,
    }


def _verified(ctx: Ctx, payload: dict[str, Any], epoch: int | None = None) -> Response:
    """``payload``, with the cookie saying this sign-in has passed the second factor:
    for ``epoch`` (the enrollment a code was checked under), else for the current one."""
    ctx.refresh()
    response = json_response(payload)
    response.headers.add(*ctx.verified_cookie(ctx.state.epoch if epoch is None else epoch))
    return response


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_body(ctx: Ctx, allowed: frozenset[str], required: frozenset[str]) -> Body:
    """The request's JSON object, parsed strictly, with exactly the fields this call takes.

    Size is bounded by :class:`Request` (413 beyond 64 KiB); values are checked by
    the service step, which refuses wrong types with ``invalid_request``.
    """
    request = ctx.request
    if request.mimetype != "application/json":
        raise UnsupportedMediaType()
    raw = request.get_data(cache=False)
    try:
        body = json.loads(
            raw.decode("utf-8"), parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates
        )
        check_json(body)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidRequest(N_("The body must be a JSON object.")) from exc
    if not isinstance(body, dict):
        raise InvalidRequest(N_("The body must be a JSON object."))
    for field in sorted(body.keys() - allowed):
        raise UnprocessableBody(N_("Unknown field %(field)s."), field)
    for field in sorted(required - body.keys()):
        raise UnprocessableBody(N_("The field %(field)s is required."), field)
    return body


class Api:
    """The JSON endpoints, as rules and handlers for :meth:`TwoFactorWeb.add_endpoints`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.prefix = f"{settings.mount}/api"
        # (path, method, endpoint, handler, fields taken, fields required, needs the
        # second factor, needs the password re-confirmation)
        no: frozenset[str] = frozenset()
        code, password = frozenset({"code"}), frozenset({"password"})
        verify_fields = frozenset({"code", "remember"})
        token_fields = frozenset({"name", "expires_in_days", "paths"})
        self._table: list[tuple[str, str, str, Handler, frozenset[str], frozenset[str], bool, bool]] = [
            ("/status", "GET", "status", self.status, no, no, False, False),
            ("/confirm-password", "POST", "confirm_password", self.confirm_password, password, password, True, False),
            ("/enroll", "POST", "enroll", self.enroll, no, no, True, True),
            ("/enroll/confirm", "POST", "enroll_confirm", self.enroll_confirm, code | {"name"}, code, True, True),
            ("/verify", "POST", "verify", self.verify, verify_fields, code, False, False),
            ("/recovery-codes", "GET", "recovery_codes", self.recovery_codes, no, no, True, True),
            ("/recovery-codes/regenerate", "POST", "regenerate", self.regenerate, no, no, True, True),
            ("/disable", "POST", "disable", self.disable, no, no, True, True),
            ("/authenticators", "GET", "authenticators", self.authenticators, no, no, True, False),
            (f"/authenticators/{AUTHENTICATOR_ID}", "PATCH", "authenticator_rename",
             self.authenticator_rename, frozenset({"name"}), frozenset({"name"}), True, False),
            (f"/authenticators/{AUTHENTICATOR_ID}", "DELETE", "authenticator_remove",
             self.authenticator_remove, no, no, True, True),
            ("/tokens", "GET", "tokens", self.tokens, no, no, True, False),
            ("/tokens", "POST", "token_create", self.token_create, token_fields, frozenset({"name"}), True, True),
            (f"/tokens/{TOKEN_ID}", "DELETE", "token_revoke",
             self.token_revoke, no, no, True, True),
            ("/browsers", "GET", "browsers", self.browsers, no, no, True, False),
            ("/browsers", "DELETE", "browsers_revoke_all", self.browsers_revoke_all, no, no, True, False),
            (f"/browsers/{BROWSER_ID}", "DELETE", "browser_revoke", self.browser_revoke, no, no, True, False),
        ]
        # Security keys (web/security_key_api.py): registering as adding an app; signing in as /verify.
        key_fields = frozenset({"credential"})
        self._table += [
            ("/security-keys/register/begin", "POST", "webauthn_register_begin",
             security_key_api.register_begin, no, no, True, True),
            ("/security-keys/register/finish", "POST", "webauthn_register_finish",
             security_key_api.register_finish, key_fields | {"name"}, key_fields | {"name"}, True, True),
            ("/verify/security-key/begin", "POST", "webauthn_authenticate_begin",
             security_key_api.authenticate_begin, no, no, False, False),
            ("/verify/security-key/finish", "POST", "webauthn_authenticate_finish",
             security_key_api.authenticate_finish, key_fields | {"next"}, key_fields, False, False),
        ]

    # -- registration ------------------------------------------------------------

    def routes(self) -> tuple[tuple[str, str, str, Access], ...]:
        """``(path below {mount}/api, endpoint, method, access)`` for :class:`~.routes.Urls`.

        Every call is reachable once signed in; the second-factor check is made by
        the call itself rather than by the router, so that it always answers JSON."""
        calls = tuple((path, f"api_{name}", method, Access.SIGNED_IN) for path, method, name, *_ in self._table)
        return (*calls, ("/openapi.json", "api_openapi", "GET", Access.PUBLIC))

    def handlers(self) -> dict[str, Callable[[Ctx], Response]]:
        return {
            f"api_{name}": self._guard(handler, method, allowed, required, verified, sudo)
            for _, method, name, handler, allowed, required, verified, sudo in self._table
        }

    def _guard(
        self, handler: Handler, method: str, allowed: frozenset[str], required: frozenset[str],
        verified: bool, sudo: bool,
    ) -> Callable[[Ctx], Response]:
        def endpoint(ctx: Ctx) -> Response:
            if verified and not ctx.verified:
                return error_json(
                    "two_factor_required", ctx.t(N_("Verify with your second factor first.")), 401,
                    verify_url=ctx.urls("api_verify"),
                )
            body = parse_body(ctx, allowed, required) if method in ("POST", "PATCH") else {}
            if sudo and not ctx.sudo():
                raise PasswordRequired()
            return handler(ctx, body)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    # -- the endpoints -------------------------------------------------------------

    def status(self, ctx: Ctx, body: Body) -> Response:
        """Where this sign-in stands: the one call, with verify, open before the second factor."""
        locked = ctx.service.retry_after(ctx.user_id) > 0
        return json_response({
            "enabled": ctx.state.enabled,
            "verified": ctx.verified,
            "recovery_codes_left": ctx.state.recovery_codes_left,
            "locked_until": rfc3339(ctx.state.locked_until) if locked else None,
        })

    def confirm_password(self, ctx: Ctx, body: Body) -> Response:
        """Opens the re-confirmation window with the same cookie the pages set."""
        ctx.service.confirm_password(ctx.user_id, body["password"], ctx.ip)
        response = json_response({"confirmed": True, "expires_in": ctx.settings.sudo_seconds})
        response.headers.add(*ctx.sudo_cookie())
        return response

    def enroll(self, ctx: Ctx, body: Body) -> Response:
        """``tokens_revoked``: how many of the user's tokens confirming this setup will revoke
        (the live ones, when it turns 2FA on)."""
        enrollment = ctx.service.enrollment(ctx.user_id, ctx.identity.session_key)
        return json_response({
            "secret": enrollment.secret,
            "otpauth_uri": enrollment.otpauth_uri,
            "qr_svg": enrollment.qr_svg,
            "tokens_revoked": ctx.service.tokens_to_revoke(ctx.user_id),
        })

    def enroll_confirm(self, ctx: Ctx, body: Body) -> Response:
        """Needs the re-confirmation too: the pending secret belongs to the user, not
        to the session, so a stolen session must not be able to finish a setup.
        ``tokens_revoked``: the user's tokens that turning 2FA on revoked (0 for one more)."""
        added = ctx.service.confirm_enrollment(
            ctx.user_id, body["code"], ctx.ip, body.get("name"), ctx.identity.session_key, epoch=ctx.state.epoch
        )
        # As on the setup page: proving the code at enrollment proves the second factor.
        # One more authenticator brings no new codes: the list is empty then.
        return _verified(ctx, {"enabled": True, "recovery_codes": added.recovery_codes,
                               "tokens_revoked": added.tokens_revoked})

    def verify(self, ctx: Ctx, body: Body) -> Response:
        """``"remember": true`` also remembers this browser (when ``remember_days`` is set),
        after a TOTP code only; checked before the code is, so a bad value spends nothing."""
        wanted = body.get("remember", False)
        if not isinstance(wanted, bool):
            raise InvalidRequest(N_("remember must be true or false."))
        if wanted and not ctx.settings.remember_days:
            raise RememberOff()
        epoch = ctx.state.epoch  # the enrollment the code is checked under: the cookies are for it only
        method = ctx.service.verify(ctx.user_id, body["code"], ctx.ip)
        trusted_cookie = remember(ctx, method, wanted, epoch)
        payload: dict[str, Any] = {"verified": True, "method": method}
        if "remember" in body:  # callers that never ask see the answer they always saw
            payload["remembered"] = trusted_cookie is not None
        response = _verified(ctx, payload, epoch)
        if trusted_cookie is not None:
            response.headers.add(*trusted_cookie)
        return response

    def recovery_codes(self, ctx: Ctx, body: Body) -> Response:
        codes = ctx.service.recovery_codes(ctx.user_id)
        return json_response({"codes": [{"code": c.code, "used": c.used} for c in codes]})

    def regenerate(self, ctx: Ctx, body: Body) -> Response:
        return json_response({"recovery_codes": ctx.service.regenerate_recovery_codes(ctx.user_id, ctx.ip)})

    def disable(self, ctx: Ctx, body: Body) -> Response:
        ctx.service.disable(ctx.user_id, ctx.ip)
        response = json_response({"enabled": False})
        response.headers.add(*ctx.cookies.clear(ctx.cookies.verified_name, secure=ctx.https))
        return response

    def authenticators(self, ctx: Ctx, body: Body) -> Response:
        listed = ctx.service.authenticators(ctx.user_id) if ctx.state.enabled else []
        return json_response({"authenticators": [authenticator_json(a) for a in listed]})

    def authenticator_rename(self, ctx: Ctx, body: Body) -> Response:
        authenticator_id = int(ctx.url_args["authenticator_id"])
        name = ctx.service.rename_authenticator(ctx.user_id, authenticator_id, body["name"])
        return json_response({"id": authenticator_id, "name": name})

    def authenticator_remove(self, ctx: Ctx, body: Body) -> Response:
        authenticator_id = int(ctx.url_args["authenticator_id"])
        ctx.service.remove_authenticator(ctx.user_id, authenticator_id, ctx.ip)
        # Every other sign-in of the user ends (a new epoch); this one stays verified.
        return _verified(ctx, {"id": authenticator_id, "removed": True})

    def tokens(self, ctx: Ctx, body: Body) -> Response:
        return json_response({"tokens": [token_json(r) for r in ctx.service.tokens.list_tokens(ctx.user_id)]})

    def token_create(self, ctx: Ctx, body: Body) -> Response:
        """The token is in this response and nowhere else, ever. Made under the 2FA state this
        request was allowed by (``epoch``): if 2FA was turned on since, 409 and nothing stored."""
        token_id, token = ctx.service.tokens.create_token(
            ctx.user_id, body["name"], body.get("expires_in_days", 30), body.get("paths"), ctx.ip,
            epoch=ctx.state.epoch,
        )
        return json_response({"id": token_id, "token": token}, 201)

    def token_revoke(self, ctx: Ctx, body: Body) -> Response:
        token_id = int(ctx.url_args["token_id"])
        ctx.service.tokens.revoke_token(token_id, ctx.user_id, ctx.ip)
        return json_response({"id": token_id, "revoked": True})

    def browsers(self, ctx: Ctx, body: Body) -> Response:
        """The live trusted browsers; empty when remembering is off."""
        records = ctx.service.browsers(ctx.user_id) if ctx.settings.remember_days else []
        this = this_browser(ctx)
        return json_response({"browsers": [browser_json(r, this) for r in records]})

    def browser_revoke(self, ctx: Ctx, body: Body) -> Response:
        """No password re-confirmation: revoking only takes trust away."""
        browser_id = int(ctx.url_args["browser_id"])
        ctx.service.revoke_browser(ctx.user_id, browser_id, ctx.ip)
        response = json_response({"id": browser_id, "revoked": True})
        if this_browser(ctx) == browser_id:
            response.headers.add(*ctx.cookies.clear(ctx.cookies.trusted_name, secure=ctx.https))
        return response

    def browsers_revoke_all(self, ctx: Ctx, body: Body) -> Response:
        count = ctx.service.revoke_browsers(ctx.user_id, ctx.ip)
        response = json_response({"revoked": count})
        if this_browser(ctx) is not None:
            response.headers.add(*ctx.cookies.clear(ctx.cookies.trusted_name, secure=ctx.https))
        return response

    # -- the OpenAPI document --------------------------------------------------------

    @cached_property
    def _openapi(self) -> bytes:
        document = json.loads(resources.files("twofa_middleware.web").joinpath("openapi.json").read_bytes())
        document["servers"] = [{"url": self.prefix}]  # follows the configured mount
        return json.dumps(document).encode()

    def openapi(self) -> Response:
        """Public: it describes the API and holds nothing about anyone."""
        return secure(Response(self._openapi, mimetype="application/json"))
