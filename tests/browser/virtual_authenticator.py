"""A security key for Chromium, played by its DevTools WebAuthn domain (a virtual
authenticator: CTAP2, built in, with user verification and resident keys, touched
automatically), and the one thing a real key never lets you do: roll its signature
counter back, to play a cloned key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playwright.sync_api import CDPSession, Page


@dataclass
class VirtualAuthenticator:
    cdp: CDPSession
    authenticator_id: str

    def credentials(self) -> list[dict[str, Any]]:
        """The credentials on the key (``credentialId``, ``rpId``, ``signCount``, ``privateKey``...)."""
        result = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.authenticator_id})
        return list(result["credentials"])

    def set_sign_count(self, credential_id: str, sign_count: int) -> None:
        """Put the credential back with another counter: as a copy of the key made earlier would sign."""
        (credential,) = [c for c in self.credentials() if c["credentialId"] == credential_id]
        self.cdp.send(
            "WebAuthn.removeCredential",
            {"authenticatorId": self.authenticator_id, "credentialId": credential_id},
        )
        self.cdp.send(
            "WebAuthn.addCredential",
            {"authenticatorId": self.authenticator_id, "credential": {**credential, "signCount": sign_count}},
        )

    def remove(self) -> None:
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.authenticator_id})


def add_virtual_authenticator(page: Page) -> VirtualAuthenticator:
    """A virtual security key attached to ``page``'s browser context (Chromium only)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    result = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return VirtualAuthenticator(cdp, result["authenticatorId"])
