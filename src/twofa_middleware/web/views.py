"""The HTML pages. Each handler checks the request, calls one service step and renders.

The password re-confirmation ("sudo") works two ways: a page that needs it shows
the password form, which posts to ``confirm-password`` and comes back; an action
posted without it shows the same form posting back to the action itself, so
"confirm, then the password" needs no JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from jinja2 import Environment
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from .. import recovery
from ..errors import (
    CSRFError,
    InvalidRequest,
    NotEnabled,
    NotSaved,
    Throttled,
    TooManyAuthenticators,
    TwoFactorError,
    WrongPassword,
)
from ..i18n import N_
from ..times import rfc3339
from . import security_key_api
from .context import Ctx
from .http import redirect, safe_next, secure, with_language
from .trust import account_values, remember


class Pages:
    def __init__(self, templates: Environment) -> None:
        self.templates = templates

    # -- helpers -----------------------------------------------------------------

    def render(self, ctx: Ctx, name: str, status: int = 200, **values: Any) -> Response:
        html = self.templates.get_template(name).render(
            user_id=ctx.settings.label(ctx.user_id),
            state=ctx.state,
            verified=ctx.verified,
            csrf_token=ctx.csrf_token,
            next_url=self.next_url(ctx),
            security_keys=security_key_api.usable(ctx),
            when=rfc3339,
            **ctx.language.template_values(),
            **values,
        )
        return with_language(secure(Response(html, status=status, mimetype="text/html")), ctx.language.tag)

    @staticmethod
    def next_url(ctx: Ctx) -> str:
        raw = ctx.request.form.get("next") if ctx.request.method == "POST" else None
        return safe_next(raw or ctx.request.args.get("next"), ctx.settings.home_url)

    @staticmethod
    def check_csrf(ctx: Ctx) -> None:
        if not ctx.csrf_ok(ctx.request.form.get("csrf_token")):
            raise CSRFError()

    def password_page(self, ctx: Ctx, action: str, *, status: int = 200, error: str | None = None,
                      hidden: dict[str, str] | None = None) -> Response:
        return self.render(ctx, "password.html", status, action=action, error=error, hidden=hidden or {})

    def need_sudo_for_page(self, ctx: Ctx) -> Response | None:
        """For GET pages: None when confirmed, else the password form."""
        if ctx.sudo():
            return None
        here = ctx.request.full_path.rstrip("?")
        return self.password_page(ctx, ctx.urls("confirm_password"), hidden={"next": here})

    def need_sudo_for_action(self, ctx: Ctx, hidden: dict[str, str]) -> tuple[Response | None, list[tuple[str, str]]]:
        """For POST actions: (None, cookies to set) when confirmed, else (password form, [])."""
        if ctx.sudo():
            return None, []
        password = ctx.request.form.get("password")
        action = ctx.request.path
        hidden = {**hidden, "next": self.next_url(ctx)}
        if password is None:
            return self.password_page(ctx, action, hidden=hidden), []
        try:
            ctx.service.confirm_password(ctx.user_id, password, ctx.ip)
        except (WrongPassword, InvalidRequest) as exc:
            return self.password_page(ctx, action, status=exc.status, error=ctx.t(exc), hidden=hidden), []
        return None, [ctx.sudo_cookie()]

    # -- account -------------------------------------------------------------------

    def account(self, ctx: Ctx) -> Response:
        return self.account_page(ctx)

    def account_page(self, ctx: Ctx, status: int = 200, error: str | None = None) -> Response:
        authenticators = ctx.service.authenticators(ctx.user_id) if ctx.state.enabled else []
        return self.render(ctx, "account.html", status, tokens_enabled=True, authenticators=authenticators,
                           error=error, added=ctx.request.args.get("added") == "1",
                           tokens_to_revoke=ctx.service.tokens_to_revoke(ctx.user_id),
                           sudo=ctx.sudo(), name_of=ctx.authenticator_name, **account_values(ctx))

    def confirm_password(self, ctx: Ctx) -> Response:
        target = self.next_url(ctx)
        if ctx.request.method in ("GET", "HEAD"):
            return self.password_page(ctx, ctx.request.path, hidden={"next": target})
        self.check_csrf(ctx)
        try:
            ctx.service.confirm_password(ctx.user_id, ctx.request.form.get("password"), ctx.ip)
        except (WrongPassword, InvalidRequest) as exc:
            return self.password_page(
                ctx, ctx.request.path, status=exc.status, error=ctx.t(exc), hidden={"next": target}
            )
        response = redirect(target)
        response.headers.add(*ctx.sudo_cookie())
        return response

    # -- enrollment --------------------------------------------------------------------

    def setup(self, ctx: Ctx) -> Response:
        """The first authenticator app, or, once 2FA is on, one more (after the password either way)."""
        if ctx.request.method in ("GET", "HEAD"):
            try:
                return self.need_sudo_for_page(ctx) or self._setup_page(ctx)
            except TooManyAuthenticators as exc:  # no setup is started that could never be confirmed
                return self.account_page(ctx, exc.status, error=ctx.t(exc))
        self.check_csrf(ctx)
        if (password_form := self.need_sudo_for_page(ctx)) is not None:
            return password_form
        name = ctx.request.form.get("name")
        try:
            added = ctx.service.confirm_enrollment(
                ctx.user_id, ctx.request.form.get("code"), ctx.ip, name, ctx.identity.session_key,
                epoch=ctx.state.epoch,
            )
        except TooManyAuthenticators as exc:
            return self.account_page(ctx, exc.status, error=ctx.t(exc))
        except TwoFactorError as exc:
            return self._setup_page(ctx, error=ctx.t(exc), status=exc.status, name=name)
        ctx.refresh()
        if added.recovery_codes:
            response = redirect(ctx.setup_codes_url(self.next_url(ctx), added.tokens_revoked))
        else:  # one more: the user keeps the recovery codes they have
            response = redirect(ctx.urls("account", added=1, next=self.next_url(ctx)))
        # Proving the code at enrollment is proving the second factor for this sign-in.
        response.headers.add(*ctx.verified_cookie(ctx.state.epoch))
        return response

    def _setup_page(self, ctx: Ctx, error: str | None = None, status: int = 200, name: str | None = None) -> Response:
        # A refused code shows the setup under way again; it never starts a new one.
        if error is None:
            ctx.service.check_room(ctx.user_id)
        enrollment = ctx.service.pending_enrollment(
            ctx.user_id, start=error is None, session_key=ctx.identity.session_key
        )
        if enrollment is None:
            return self.render(ctx, "error.html", status, title=ctx.t(N_("Set up two-factor authentication")),
                               message=" ".join((error or "", ctx.t(N_("The setup has expired: start again.")))),
                               link=ctx.urls("setup"), link_text=ctx.t(N_("Start again")))
        return self.render(ctx, "setup.html", status, enrollment=enrollment, error=error,
                           adding=ctx.state.enabled, authenticator_name=name or "",
                           tokens_to_revoke=ctx.service.tokens_to_revoke(ctx.user_id))

    def setup_codes(self, ctx: Ctx) -> Response:
        """Step 3 of enrollment: save the recovery codes, then Done."""
        if not ctx.state.enabled:
            return redirect(ctx.urls("setup"))
        if ctx.request.method in ("GET", "HEAD"):
            return self.need_sudo_for_page(ctx) or self._codes_page(
                ctx, mode="setup", tokens_revoked=_count(ctx.request.args.get("revoked"))
            )
        self.check_csrf(ctx)
        if ctx.request.form.get("saved") != "on":
            if (password_form := self.need_sudo_for_page(ctx)) is not None:
                return password_form
            return self._codes_page(ctx, mode="setup", error=ctx.t(NotSaved()), status=NotSaved.status)
        return redirect(self.next_url(ctx))

    # -- recovery codes ------------------------------------------------------------------

    def _codes_page(
        self, ctx: Ctx, mode: str, error: str | None = None, status: int = 200, tokens_revoked: int = 0
    ) -> Response:
        codes = ctx.service.recovery_codes(ctx.user_id)
        return self.render(ctx, "codes.html", status, codes=codes, mode=mode, error=error,
                           codes_text="\n".join(c.code for c in codes if not c.used), tokens_revoked=tokens_revoked)

    def recovery_codes(self, ctx: Ctx) -> Response:
        if not ctx.state.enabled:
            raise NotEnabled()
        mode = "new" if ctx.request.args.get("new") == "1" else "view"
        return self.need_sudo_for_page(ctx) or self._codes_page(ctx, mode=mode)

    def recovery_codes_download(self, ctx: Ctx) -> Response:
        if not ctx.state.enabled:
            raise NotEnabled()
        denied = self.need_sudo_for_page(ctx)
        if denied is not None:
            return denied
        codes = [c.code.replace("-", "") for c in ctx.service.recovery_codes(ctx.user_id) if not c.used]
        text = recovery.as_text(codes, ctx.settings.issuer, ctx.settings.label(ctx.user_id), ctx.language.gettext)
        filename = f"{ctx.settings.issuer}-recovery-codes.txt".replace(" ", "-")
        response = Response(text, mimetype="text/plain")
        response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        return secure(response)

    def _confirmed_action(
        self,
        ctx: Ctx,
        act: Callable[[], Response],
        *,
        title: str,
        text: str,
        button: str,
        danger: bool,
        sudo_to_ask: bool,
    ) -> Response:
        """A sensitive action: a confirmation page (GET), then the password (POST), then ``act``."""
        if not ctx.state.enabled:
            raise NotEnabled()
        if ctx.request.method in ("GET", "HEAD"):
            denied = self.need_sudo_for_page(ctx) if sudo_to_ask else None
            return denied or self.render(
                ctx, "confirm.html", title=title, text=text, action=ctx.request.path, button=button, danger=danger
            )
        self.check_csrf(ctx)
        denied, cookies = self.need_sudo_for_action(ctx, {"confirm": "1"})
        if denied is not None:
            return denied
        response = act()
        for header in cookies:
            response.headers.add(*header)
        return response

    def regenerate(self, ctx: Ctx) -> Response:
        def act() -> Response:
            ctx.service.regenerate_recovery_codes(ctx.user_id, ctx.ip)
            return redirect(ctx.urls("recovery_codes", new=1, next=self.next_url(ctx)))

        return self._confirmed_action(
            ctx,
            act,
            title=ctx.t(N_("Generate new recovery codes?")),
            text=ctx.t(N_("Your current recovery codes will stop working at once. "
                          "Save the new ones before you leave the page.")),
            button=ctx.t(N_("Generate new codes")),
            danger=False,
            sudo_to_ask=True,
        )

    # -- disabling -----------------------------------------------------------------------

    def disable(self, ctx: Ctx) -> Response:
        def act() -> Response:
            ctx.service.disable(ctx.user_id, ctx.ip)
            response = redirect(self.next_url(ctx))
            response.headers.add(*ctx.cookies.clear(ctx.cookies.verified_name, secure=ctx.https))
            return response

        return self._confirmed_action(
            ctx,
            act,
            title=ctx.t(N_("Disable two-factor authentication?")),
            text=ctx.t(N_("Your account will be protected by your password alone. Your authenticator app "
                          "and recovery codes will stop working for this account.")),
            button=ctx.t(N_("Disable two-factor authentication")),
            danger=True,
            sudo_to_ask=False,
        )

    # -- the second factor at sign-in ------------------------------------------------------

    def sign_out(self, ctx: Ctx) -> Response:
        """The verify page's way out, under the middleware's CSRF token: the app's own
        CSRF protection never sees this form, the integration's ``sign_out`` ends
        the app's sign-in."""
        self.check_csrf(ctx)
        sign_out = ctx.settings.sign_out
        if sign_out is None:
            raise NotFound()
        response = redirect(ctx.settings.login_url or ctx.settings.home_url)
        for name, value in sign_out(ctx.request.environ):
            response.headers.add(name, value)
        response.headers.add(*ctx.cookies.clear(ctx.cookies.verified_name, secure=ctx.https))
        response.headers.add(*ctx.cookies.clear(ctx.cookies.sudo_name, secure=ctx.https, path=ctx.settings.mount))
        return response

    def verify(self, ctx: Ctx) -> Response:
        target = self.next_url(ctx)
        if not ctx.state.enabled or ctx.verified:
            return redirect(target)
        if ctx.request.method in ("GET", "HEAD"):
            retry = ctx.service.retry_after(ctx.user_id)
            error = ctx.t(Throttled(retry)) if retry else None
            return self.render(ctx, "verify.html", error=error)
        self.check_csrf(ctx)
        wanted = ctx.request.form.get("remember") == "on" and bool(ctx.settings.remember_days)
        epoch = ctx.state.epoch  # the enrollment the code is checked under: the cookies are for it only
        try:
            method = ctx.service.verify(ctx.user_id, ctx.request.form.get("code"), ctx.ip)
        except NotEnabled:
            return redirect(target)
        except TwoFactorError as exc:
            response = self.render(ctx, "verify.html", exc.status, error=ctx.t(exc))
            if isinstance(exc, Throttled):
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
        ctx.refresh()
        if method == "recovery" and ctx.state.recovery_codes_left < ctx.settings.recovery_codes_warn_below:
            target = ctx.urls("account", low=1, next=target)
        response = redirect(target)
        response.headers.add(*ctx.verified_cookie(epoch))
        trusted_cookie = remember(ctx, method, wanted, epoch)
        if trusted_cookie is not None:
            response.headers.add(*trusted_cookie)
        return response


def _count(raw: str | None) -> int:
    """A small count from the query string (how many tokens turning 2FA on revoked); 0 if it is not one."""
    return int(raw) if raw is not None and raw.isascii() and raw.isdigit() and len(raw) <= 6 else 0
