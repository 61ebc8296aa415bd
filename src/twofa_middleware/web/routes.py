"""Every path under the mount in one werkzeug ``Map``: requests are routed by it and URLs built from it.

No page or answer writes a path of its own: it asks :class:`Urls` for an
endpoint's URL, so a path is spelled once, here, and follows the configured mount.
"""

from __future__ import annotations

from enum import Enum

from werkzeug.routing import Map, Rule

TOKEN_ID = "<int(min=1, max=9223372036854775807):token_id>"  # noqa: S105 - a database id, not a secret
AUTHENTICATOR_ID = "<int(min=1, max=9223372036854775807):authenticator_id>"
BROWSER_ID = "<int(min=1, max=9223372036854775807):browser_id>"


class Access(Enum):
    """Who may reach an endpoint."""

    PUBLIC = "public"  # anyone: no sign-in, no store (static files, the OpenAPI document)
    SIGNED_IN = "signed_in"  # a signed-in user, even one still owing the second factor
    VERIFIED = "verified"  # a user past the second factor, or without 2FA


_GET, _BOTH = ("GET", "HEAD"), ("GET", "HEAD", "POST")

# (path below the mount, endpoint, methods, access)
PAGES: tuple[tuple[str, str, tuple[str, ...], Access], ...] = (
    ("/", "account", _GET, Access.VERIFIED),
    ("/confirm-password", "confirm_password", _BOTH, Access.VERIFIED),
    ("/setup", "setup", _BOTH, Access.VERIFIED),
    ("/setup/recovery-codes", "setup_codes", _BOTH, Access.VERIFIED),
    ("/verify", "verify", _BOTH, Access.SIGNED_IN),
    ("/recovery-codes", "recovery_codes", _GET, Access.VERIFIED),
    ("/recovery-codes.txt", "recovery_codes_download", _GET, Access.VERIFIED),
    ("/recovery-codes/regenerate", "regenerate", _BOTH, Access.VERIFIED),
    ("/disable", "disable", _BOTH, Access.VERIFIED),
    ("/sign-out", "sign_out", ("POST",), Access.SIGNED_IN),
    (f"/authenticators/{AUTHENTICATOR_ID}/rename", "authenticator_rename", ("POST",), Access.VERIFIED),
    (f"/authenticators/{AUTHENTICATOR_ID}/remove", "authenticator_remove", _BOTH, Access.VERIFIED),
    ("/tokens", "tokens", _BOTH, Access.VERIFIED),
    (f"/tokens/{TOKEN_ID}/revoke", "token_revoke", ("POST",), Access.VERIFIED),
    (f"/browsers/{BROWSER_ID}/revoke", "browser_revoke", ("POST",), Access.VERIFIED),
    ("/browsers/revoke", "browsers_revoke_all", ("POST",), Access.VERIFIED),
    ("/static/<name>", "static", _GET, Access.PUBLIC),
)

# What ``environ["twofa"].urls`` and the templates' ``urls`` name: endpoint per key.
LINKS = {
    "account": "account",
    "setup": "setup",
    "verify": "verify",
    "recovery_codes": "recovery_codes",
    "disable": "disable",
    "tokens": "tokens",
}


class Urls:
    """The routing table of one mount, and URLs built from it.

    :param mount: the settings' ``mount``.
    :param api: the JSON API's rules (``(path below {mount}/api, endpoint, method, access)``).
    """

    def __init__(self, mount: str, api: tuple[tuple[str, str, str, Access], ...] = ()) -> None:
        self.mount = mount
        self.api_prefix = f"{mount}/api"
        self.access = {endpoint: access for _, endpoint, _, access in (*PAGES, *api)}
        rules = [Rule(mount + path, endpoint=name, methods=list(methods)) for path, name, methods, _ in PAGES]
        rules += [Rule(self.api_prefix + path, endpoint=name, methods=[method]) for path, name, method, _ in api]
        self.map = Map(rules, strict_slashes=True)
        self._builder = self.map.bind("localhost")

    def __call__(self, endpoint: str, **values: object) -> str:
        """The path of ``endpoint`` (``urls("setup")``, ``urls("api_verify")``); extra values
        that the rule does not take become the query string."""
        return self._builder.build(endpoint, values)

    def links(self) -> dict[str, str]:
        """The pages an app links to from its own settings page, and the API's root."""
        return {key: self(endpoint) for key, endpoint in LINKS.items()} | {"api": self.api_prefix}
