"""Per-request facts shared by the HTML pages and the JSON API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..cookies import Cookies, is_https
from ..errors import TwoFactorError
from ..i18n import ENGLISH, Language, Text
from ..identity import Identity
from ..service import TwoFactorService
from ..store.base import DEFAULT_NAMES, AuthenticatorRecord, UserState
from .http import Request
from .routes import Urls


@dataclass
class Ctx:
    """Who is asking, and how far their sign-in has got."""

    request: Request
    identity: Identity
    state: UserState
    verified: bool  # passed the second factor, or has none to pass
    settings: Settings
    cookies: Cookies
    service: TwoFactorService
    urls: Urls
    url_args: Mapping[str, Any] = field(default_factory=dict)  # from the URL rule, e.g. token_id
    language: Language = ENGLISH  # what this request is answered in

    def t(self, text: str | Text | TwoFactorError, **params: object) -> str:
        """A marked text (``N_("...")`` with ``%(name)s`` values) or an error's message, in this request's language."""
        if isinstance(text, TwoFactorError):
            return self.language.text(text.text)
        if params and isinstance(text, str):
            return self.language.text(Text(text, params))
        return self.language.text(text)

    def authenticator_name(self, record: AuthenticatorRecord) -> str:
        """A factor's name as this reader sees it. The name a factor got when its user gave
        none is stored in English ("Authenticator app"); it is shown in the reader's language
        (so is the same name typed by hand: nobody can tell them apart). Any other name as stored."""
        if record.name == DEFAULT_NAMES.get(record.kind):
            return self.language.gettext(record.name)
        return record.name

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    @property
    def ip(self) -> str | None:
        return self.request.remote_addr

    @property
    def https(self) -> bool:
        return is_https(self.request.environ)

    def sudo(self) -> bool:
        """The password was re-confirmed within ``sudo_seconds`` in this sign-in."""
        return self.cookies.sudo_valid(self.request.cookies.get(self.cookies.sudo_name), self.identity)

    def csrf_ok(self, token: object) -> bool:
        return self.cookies.csrf_valid(token, self.identity)

    @property
    def csrf_token(self) -> str:
        return self.cookies.csrf_token(self.identity)

    def sudo_cookie(self) -> tuple[str, str]:
        return self.cookies.header(
            self.cookies.sudo_name,
            self.cookies.sudo_value(self.identity),
            secure=self.https,
            max_age=self.settings.sudo_seconds,
            path=self.settings.mount,
        )

    def verified_cookie(self, epoch: int) -> tuple[str, str]:
        return self.cookies.header(
            self.cookies.verified_name,
            self.cookies.verified_value(self.identity, epoch),
            secure=self.https,
            max_age=self.settings.verified_max_age,
        )

    def setup_codes_url(self, next_url: str, tokens_revoked: int) -> str:
        """The page after 2FA was turned on: the new recovery codes, and how many tokens that revoked."""
        revoked = {"revoked": tokens_revoked} if tokens_revoked else {}
        return self.urls("setup_codes", next=next_url, **revoked)

    def refresh(self) -> None:
        """Read the state again after a change made in this request."""
        self.state = self.service.state(self.user_id)


def template_globals(settings: Settings, urls: Urls) -> dict[str, Any]:
    return {
        "url": urls,
        "urls": urls.links(),
        "issuer": settings.issuer,
        "warn_below": settings.recovery_codes_warn_below,
        "totp_digits": settings.totp_digits,
        "totp_period": settings.totp_period,
        "logout_url": settings.logout_url,
        "sign_out_url": urls("sign_out") if settings.sign_out is not None else None,
        "remember_days": settings.remember_days or None,
    }
