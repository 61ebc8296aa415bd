"""The account page's trusted browsers: Revoke and Revoke all.

The same service steps as ``DELETE {mount}/api/browsers``. Revoking needs no
password re-confirmation: it only takes trust away, and whoever holds the
session could as well sign out.
"""

from __future__ import annotations

from werkzeug.wrappers import Response

from ..errors import TwoFactorError
from ..i18n import N_
from .context import Ctx
from .http import redirect
from .trust import this_browser
from .views import Pages


class BrowserPages(Pages):
    """The account page's Revoke and Revoke all buttons (POST forms with the CSRF token)."""

    def _done(self, ctx: Ctx, revoked_this: bool) -> Response:
        response = redirect(ctx.urls("account", next=self.next_url(ctx)))
        if revoked_this:
            response.headers.add(*ctx.cookies.clear(ctx.cookies.trusted_name, secure=ctx.https))
        return response

    def browser_revoke(self, ctx: Ctx) -> Response:
        self.check_csrf(ctx)
        browser_id = int(ctx.url_args["browser_id"])
        try:
            ctx.service.revoke_browser(ctx.user_id, browser_id, ctx.ip)
        except TwoFactorError as exc:
            return self.render(ctx, "error.html", exc.status, title=ctx.t(N_("Trusted browsers")),
                               message=ctx.t(exc), link=ctx.urls("account"),
                               link_text=ctx.t(N_("Back to account security")))
        return self._done(ctx, this_browser(ctx) == browser_id)

    def browsers_revoke_all(self, ctx: Ctx) -> Response:
        self.check_csrf(ctx)
        ctx.service.revoke_browsers(ctx.user_id, ctx.ip)
        return self._done(ctx, this_browser(ctx) is not None)
