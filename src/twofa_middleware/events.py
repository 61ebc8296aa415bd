"""The security log's event codes, and a human label for each in the user's language.

The code is what the store, the CLI and the app's ``notify(user_id, event)`` hook
get, stable and never translated; :func:`event_label` is what an e-mail or a
page tells the user ("Two-factor authentication was turned off").
"""

from __future__ import annotations

from . import languages
from .i18n import ENGLISH, N_, Language

LABELS: dict[str, str] = {
    "enabled": N_("Two-factor authentication was turned on."),
    "disabled": N_("Two-factor authentication was turned off."),
    "authenticator_added": N_("An authenticator was added to your account."),
    "authenticator_removed": N_("An authenticator was removed from your account."),
    "enroll_failed": N_("A code entered while setting up an authenticator was wrong."),
    "webauthn_add_failed": N_("A security key could not be added to your account."),
    "webauthn_cloned": N_("A security key that may have been copied was refused."),
    "verified": N_("You signed in with your second factor."),
    "verify_failed": N_("A wrong code was entered at sign-in."),
    "recovery_code_used": N_("A recovery code was used to sign in."),
    "recovery_codes_regenerated": N_("New recovery codes were generated; the old ones no longer work."),
    "lockout": N_("Sign-in with a code was locked after too many wrong codes."),
    "unlocked": N_("An administrator unlocked sign-in with a code."),
    "password_failed": N_("A wrong password was entered to confirm a sensitive step."),
    "token_created": N_("A personal access token was created."),
    "token_revoked": N_("A personal access token was revoked."),
    "browser_trusted": N_("A browser was remembered: it signs in without a code."),
    "browser_revoked": N_("A trusted browser was revoked."),
    "browsers_revoked": N_("All trusted browsers were revoked."),
    "browsers_forgotten": N_("Your trusted browsers were forgotten."),
    "imported": N_("An authenticator was moved in from another system."),
}


def event_label(event: str, language: str | Language | None = None) -> str:
    """The label of ``event`` in ``language`` (a shipped name or tag such as ``"de"``, ``"pt-BR"``;
    English when not shipped); an unknown code is returned as it is."""
    if not isinstance(language, Language):
        chosen = languages.match(language) if language else None
        language = ENGLISH if chosen is None else Language(chosen)
    label = LABELS.get(event)
    return event if label is None else language.gettext(label)
