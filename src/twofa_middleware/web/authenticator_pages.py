"""The list of a user's authenticators on the account page: rename and remove.

Adding one is the setup page's (``{mount}/setup`` adds another authenticator app
once 2FA is on). They call the same service steps as ``{mount}/api/authenticators``.
"""

from __future__ import annotations

from werkzeug.wrappers import Response

from ..errors import NoSuchAuthenticator, TwoFactorError
from ..i18n import N_
from .context import Ctx
from .http import redirect
from .views import Pages


class AuthenticatorPages(Pages):
    def _back(self, ctx: Ctx, **values: object) -> Response:
        return redirect(ctx.urls("account", **values, next=self.next_url(ctx)))

    def rename(self, ctx: Ctx) -> Response:
        """Renaming is harmless: no password, only the form's CSRF token."""
        self.check_csrf(ctx)
        try:
            ctx.service.rename_authenticator(
                ctx.user_id, int(ctx.url_args["authenticator_id"]), ctx.request.form.get("name")
            )
        except TwoFactorError as exc:
            return self.account_page(ctx, exc.status, error=ctx.t(exc))
        return self._back(ctx)

    def remove(self, ctx: Ctx) -> Response:
        """Removing a factor weakens the account: confirm, then the password."""
        authenticator_id = int(ctx.url_args["authenticator_id"])
        names = {a.id: ctx.authenticator_name(a) for a in ctx.service.authenticators(ctx.user_id)}
        if authenticator_id not in names:
            return self.account_page(ctx, 404, error=ctx.t(NoSuchAuthenticator()))

        def act() -> Response:
            try:
                ctx.service.remove_authenticator(ctx.user_id, authenticator_id, ctx.ip)
            except TwoFactorError as exc:
                return self.account_page(ctx, exc.status, error=ctx.t(exc))
            # Every other sign-in of the user ends (a new epoch); this one stays verified.
            ctx.refresh()
            response = self._back(ctx)
            response.headers.add(*ctx.verified_cookie(ctx.state.epoch))
            return response

        return self._confirmed_action(
            ctx,
            act,
            title=ctx.t(N_("Remove \u201c%(name)s\u201d?"), name=names[authenticator_id]),
            text=ctx.t(N_("You will no longer be able to sign in with it. Your other authenticators "
                          "and your recovery codes keep working.")),
            button=ctx.t(N_("Remove")),
            danger=True,
            sudo_to_ask=False,
        )
