"""Trusted browsers in a request: the verify step's "Remember this browser", the account page's list.

Shared by the pages and the JSON API (no page class here, so both can import it).
"""

from __future__ import annotations

from typing import Any

from ..cookies import Cookies
from ..decision import browser_trusted
from ..errors import RememberOff
from ..identity import Identity
from ..service import TwoFactorService
from ..store.base import TrustedBrowserRecord, UserState
from .context import Ctx


def trusted_sign_in(
    cookies: Cookies, service: TwoFactorService, environ: dict[str, Any], identity: Identity, state: UserState
) -> TrustedBrowserRecord | None:
    """For the 2FA pages: the record that spares this new sign-in the code, judged as
    :func:`~twofa_middleware.decision.decide` judges it (a browser that lands on the
    verify page or the API first is not asked for a code the app would not ask)."""
    if not state.enabled or not identity.session_key:
        return None
    candidates = cookies.trusted_candidates(environ)
    record = service.presented_browser(candidates) if candidates else None
    if record is None or not browser_trusted(record, identity, state, service.clock()):
        return None
    service.note_browser_use(record, environ.get("REMOTE_ADDR"))
    return record


def this_browser(ctx: Ctx) -> int | None:
    """The record id this browser's (well-signed) trusted cookie names, for the "This browser" marker."""
    candidates = ctx.cookies.trusted_candidates(ctx.request.environ)
    return candidates[0][0] if candidates else None


def account_values(ctx: Ctx) -> dict[str, Any]:
    """What the account page's "Trusted browsers" section shows (nothing when remembering is off)."""
    if not ctx.settings.remember_days or not ctx.state.enabled:
        return {"browsers": None}
    return {"browsers": ctx.service.browsers(ctx.user_id), "this_browser": this_browser(ctx)}


def remember(ctx: Ctx, method: str, wanted: bool, epoch: int) -> tuple[str, str] | None:
    """After a code was accepted at sign-in: the trusted cookie when the user asked for it.

    ``epoch``: the enrollment the code was checked under (a record of another spares nothing).
    Never after a recovery code: that sign-in has just ended all trust (the phone
    may be in someone else's hands), and it starts none.
    """
    if not wanted:
        return None
    if not ctx.settings.remember_days:
        raise RememberOff()
    if method != "totp":
        return None
    browser_id, secret = ctx.service.trust_browser(
        ctx.user_id, ctx.request.headers.get("User-Agent"), ctx.ip, epoch=epoch
    )
    return ctx.cookies.trusted_header(ctx.cookies.trusted_value(browser_id, secret), secure=ctx.https)
