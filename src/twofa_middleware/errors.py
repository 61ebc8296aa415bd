"""One exception family; each error carries what a caller needs to answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .i18n import N_, Nn_, Text

if TYPE_CHECKING:
    from .store.base import AttemptResult


class TwoFactorError(Exception):
    """Base class. ``code`` is the stable, machine-readable name of the error (never translated).

    ``message`` is the English text (for logs and the CLI); ``text`` is the same text
    still to be translated, which pages and JSON answers render in the request's
    language. A message is a marked msgid (``N_("...")``) with ``%(name)s``
    placeholders filled from ``params``, or a :class:`~twofa_middleware.i18n.Text`.

    ``attempt`` is set by the store on a refused code: what the attempt did to
    the user's failure count.
    """

    code = "two_factor_error"
    status = 400
    message = N_("The request could not be completed.")
    attempt: AttemptResult | None = None

    def __init__(self, message: str | Text | None = None, **params: object) -> None:
        self.text = message if isinstance(message, Text) else Text(message or self.message, params)
        self.message = str(self.text)
        super().__init__(self.message)


class InvalidRequest(TwoFactorError):
    code = "invalid_request"
    status = 400
    message = N_("The request is malformed.")


class SetupExpired(InvalidRequest):
    """No setup under way (never started, or started more than ``enrollment_seconds`` ago)."""

    code = "setup_expired"
    message = N_("The setup has expired. Start again.")


class NoSuchToken(InvalidRequest):
    """No live token with that id for this user (a subclass, so callers catching InvalidRequest still do)."""

    code = "not_found"
    status = 404
    message = N_("No such token.")


class NoSuchBrowser(InvalidRequest):
    """No live trusted browser with that id for this user."""

    code = "not_found"
    status = 404
    message = N_("There is no such trusted browser.")


class RememberOff(InvalidRequest):
    """``remember`` was asked for, but this app does not remember browsers (``remember_days``)."""

    code = "remember_disabled"
    message = N_("This application does not remember browsers.")


class InvalidCode(TwoFactorError):
    """The code is well formed but wrong.

    :param drift_seconds: set when the code matches the user's secret at a
        time outside the accepted window: the device's clock is that far off.
    """

    code = "invalid_code"
    status = 400
    message = N_("That code is not valid. Check your authenticator app and try again.")

    FAST = Nn_(
        "That code is not valid now. Your device's clock seems to be about %(num)s second fast; "
        "set it to update automatically and try again.",
        "That code is not valid now. Your device's clock seems to be about %(num)s seconds fast; "
        "set it to update automatically and try again.",
    )
    SLOW = Nn_(
        "That code is not valid now. Your device's clock seems to be about %(num)s second slow; "
        "set it to update automatically and try again.",
        "That code is not valid now. Your device's clock seems to be about %(num)s seconds slow; "
        "set it to update automatically and try again.",
    )

    def __init__(self, message: str | Text | None = None, drift_seconds: int | None = None) -> None:
        if drift_seconds is not None and message is None:
            singular, plural = self.FAST if drift_seconds > 0 else self.SLOW
            message = Text(singular, plural=plural, count=abs(drift_seconds))
        super().__init__(message)
        self.drift_seconds = drift_seconds


class CodeReused(TwoFactorError):
    code = "code_reused"
    status = 409
    message = N_("This code was already used. Wait for the next one from your app.")


class Throttled(TwoFactorError):
    """Too many wrong codes. :param retry_after: whole seconds until the next try."""

    code = "locked"
    status = 429
    CODES = Nn_("Too many wrong codes. Try again in %(num)s second.",
                "Too many wrong codes. Try again in %(num)s seconds.")
    PASSWORDS = Nn_("Too many wrong passwords. Try again in %(num)s second.",
                    "Too many wrong passwords. Try again in %(num)s seconds.")

    def __init__(self, retry_after: int, reason: tuple[str, str] = CODES) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(Text(reason[0], plural=reason[1], count=self.retry_after))


class PasswordRequired(TwoFactorError):
    code = "password_required"
    status = 403
    message = N_("Confirm your password to continue.")


class WrongPassword(TwoFactorError):
    code = "invalid_password"
    status = 403
    message = N_("That password is not correct.")


class CSRFError(TwoFactorError):
    code = "csrf_failed"
    status = 403
    message = N_("The form has expired or did not come from this site. Reload the page and try again.")


class NotEnabled(TwoFactorError):
    code = "not_enabled"
    status = 409
    message = N_("Two-factor authentication is not enabled for this account.")


class AlreadyEnabled(TwoFactorError):
    code = "already_enabled"
    status = 409
    message = N_("Two-factor authentication is already enabled for this account.")


class NotSaved(TwoFactorError):
    code = "not_saved"
    status = 400
    message = N_("Download or copy your recovery codes and tick \u201cI've saved the data\u201d first.")


class StoreUnavailable(TwoFactorError):
    code = "store_unavailable"
    status = 503
    message = N_("Two-factor authentication is temporarily unavailable. Try again in a moment.")


class InvalidToken(TwoFactorError):
    code = "invalid_token"
    status = 401
    message = N_("The access token is invalid, expired, revoked or not valid for this path.")


class NoSuchAuthenticator(InvalidRequest):
    """No authenticator with that id for this user."""

    code = "not_found"
    status = 404
    message = N_("There is no such authenticator.")


class LastAuthenticator(TwoFactorError):
    """Removing the only factor would leave 2FA on with nothing to sign in with."""

    code = "last_authenticator"
    status = 409
    message = N_("This is your only authenticator. Add another first, or disable two-factor authentication.")


class TooManyAuthenticators(TwoFactorError):
    """The user has ``max_authenticators`` already: one more is refused, and nothing is stored.

    :param limit: the setting's value, shown in the message.
    """

    code = "too_many_authenticators"
    status = 409
    message = N_("You have the most authenticators an account may have (%(limit)s). Remove one to add another.")

    def __init__(self, limit: int) -> None:
        super().__init__(limit=limit)
        self.limit = limit


class TwoFactorChanged(TwoFactorError):
    """The user's 2FA was turned on or off (a new epoch) between the check a step was
    allowed by and its write: a token made under the old state could outlive the new one,
    so nothing is stored and the caller checks again."""

    code = "two_factor_changed"
    status = 409
    message = N_("Your two-factor authentication changed meanwhile, so nothing was created. "
                 "Reload the page and try again.")


class InvalidSecurityKey(TwoFactorError):
    """A security key (WebAuthn) response that does not verify, for any reason.

    The user sees one plain message; ``reason`` is a stable short word for the
    security log and for tests (``malformed``, ``challenge``, ``expired``,
    ``wrong_user``, ``wrong_session``, ``wrong_purpose``, ``unknown_credential``,
    ``origin``, ``rp_id``, ``user_handle``, ``not_verified``, ``no_session``; ``cloned`` for the subclass),
    never shown as the message.
    """

    code = "invalid_security_key"
    status = 400
    message = N_("That security key could not be verified. Try again.")

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class SecurityKeyCloned(InvalidSecurityKey):
    """The key signed correctly but its signature counter did not go up: two copies of
    the key exist (a cloned key, or a replayed one). A subclass, so callers that count
    refused keys count this too; the credential should be flagged, not just refused.

    :param stored: the counter kept from the last use; :param received: the one signed now.
    """

    code = "security_key_cloned"
    status = 403
    message = N_(
        "This security key may have been copied: it cannot be used to sign in. "
        "Use another key or a recovery code, and remove this key from your account."
    )

    def __init__(self, stored: int, received: int) -> None:
        super().__init__("cloned")
        self.stored = stored
        self.received = received
