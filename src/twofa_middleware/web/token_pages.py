"""The personal access token pages: list, create (shown once) and revoke.

They call the same service steps as ``GET/POST/DELETE {mount}/api/tokens``; the
form handling and the password re-confirmation are the other pages' own.
"""

from __future__ import annotations

import re

from werkzeug.wrappers import Response

from ..errors import InvalidRequest, TwoFactorError
from ..i18n import N_
from .context import Ctx
from .http import redirect
from .views import Pages

_SEPARATORS = re.compile(r"[\s,]+")
DEFAULT_DAYS = 30


class TokenPages(Pages):
    """``{mount}/tokens``: the HTML counterpart of the tokens API."""

    def _page(self, ctx: Ctx, status: int = 200, **values: object) -> Response:
        defaults = {"new_token": None, "error": None, "form": {"name": "", "expires_days": str(DEFAULT_DAYS),
                                                               "paths": ""}}
        return self.render(
            ctx, "tokens.html", status, tokens=ctx.service.tokens.list_tokens(ctx.user_id),
            max_days=ctx.settings.max_token_days, **{**defaults, **values},
        )

    def tokens(self, ctx: Ctx) -> Response:
        """GET lists; POST creates, after the password re-confirmation, and shows the token once."""
        if ctx.request.method != "POST":
            return self._page(ctx)
        self.check_csrf(ctx)
        form = {
            "name": ctx.request.form.get("name", ""),
            "expires_days": ctx.request.form.get("expires_days", str(DEFAULT_DAYS)),
            "paths": ctx.request.form.get("paths", ""),
        }
        denied, cookies = self.need_sudo_for_action(ctx, form)
        if denied is not None:
            return denied
        paths = [p for p in _SEPARATORS.split(form["paths"]) if p]
        try:
            token_id, token = ctx.service.tokens.create_token(
                ctx.user_id, form["name"], _days(form["expires_days"]), paths, ctx.ip, epoch=ctx.state.epoch
            )
        except TwoFactorError as exc:
            response = self._page(ctx, exc.status, error=ctx.t(exc), form=form)
        else:
            # Rendered, not redirected: this response is the only place the token ever appears.
            response = self._page(ctx, new_token=token, new_token_id=token_id)
        for header in cookies:
            response.headers.add(*header)
        return response

    def token_revoke(self, ctx: Ctx) -> Response:
        self.check_csrf(ctx)
        denied, cookies = self.need_sudo_for_action(ctx, {})
        if denied is not None:
            return denied
        try:
            ctx.service.tokens.revoke_token(int(ctx.url_args["token_id"]), ctx.user_id, ctx.ip)
        except TwoFactorError as exc:
            response = self._page(ctx, exc.status, error=ctx.t(exc))
        else:
            response = redirect(ctx.urls("tokens", next=self.next_url(ctx)))
        for header in cookies:
            response.headers.add(*header)
        return response


def _days(raw: str) -> int:
    """The form's expiry in days; the service checks the range."""
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
        raise InvalidRequest(N_("Expiry must be a whole number of days."))
    return int(raw)
