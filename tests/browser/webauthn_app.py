"""A tiny WSGI app for the security key tests, before the middleware's pages have them:
begin and finish endpoints that call ``security_keys`` as the real ones will, with the
credentials and challenge states in dicts, and one page using twofa-webauthn.js.

One user (``alice``); the sign-in's session key is a random cookie set on the first page.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from werkzeug.wrappers import Request, Response

from twofa_middleware import security_keys as sk
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import InvalidRequest, TwoFactorError
from twofa_middleware.web.http import CSP

USER = "alice"
CSRF = secrets.token_urlsafe(16)


@dataclass
class Key:
    name: str
    credential: sk.NewCredential
    sign_count: int


@dataclass
class WebAuthnApp:
    keys: KeyRing = field(default_factory=lambda: KeyRing("a test secret key of some length"))
    credentials: dict[bytes, Key] = field(default_factory=dict)
    states: dict[str, sk.ChallengeState] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except TwoFactorError as exc:
            self.refusals.append(getattr(exc, "reason", exc.code))
            response = Response(json.dumps({"error": exc.code, "message": exc.message}), exc.status,
                                mimetype="application/json")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["Cache-Control"] = "no-store"
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if request.method == "GET":
            if path == "/twofa-webauthn.js":
                js = resources.files("twofa_middleware.web").joinpath("static/twofa-webauthn.js").read_bytes()
                return Response(js, mimetype="text/javascript")
            if path in ("/", "/signed-in"):
                response = Response(self.page(signed_in=path == "/signed-in"), mimetype="text/html")
                if "sid" not in request.cookies:
                    response.set_cookie("sid", secrets.token_urlsafe(16), httponly=True, samesite="Lax")
                return response
            return Response("not found", 404)
        if request.mimetype != "application/json" or request.headers.get("X-CSRF-Token") != CSRF:
            raise InvalidRequest("Send JSON with the page's CSRF token.")
        session_key = request.cookies.get("sid", "")
        body = json.loads(request.get_data(as_text=True))
        origins, rp_id = sk.expected_origin_and_rp_id(request.scheme, request.host)
        now = time.time()
        mine = [sk.CredentialRef(k.credential.credential_id, k.credential.transports)
                for k in self.credentials.values()]
        if path.startswith("/begin/"):
            purpose = sk.Purpose(path.removeprefix("/begin/"))
            if purpose is sk.Purpose.REGISTER:
                ceremony = sk.registration_options(
                    rp_id=rp_id, rp_name="Example", user_handle=sk.user_handle(self.keys, USER),
                    user_name=USER, existing=mine,
                )
            else:
                ceremony = sk.authentication_options(rp_id=rp_id, allowed=mine)
            state = sk.new_challenge_state(
                ceremony.challenge, user_id=USER, session_key=session_key, purpose=purpose, now=now
            )
            self.states[state.key] = state
            return Response(json.dumps({"publicKey": ceremony.options}), mimetype="application/json")
        if path == "/finish/register":
            name = sk.parse_name(body.get("name"))
            registration = sk.parse_registration_response(body.get("credential"))
            consumed = self.states.pop(sk.challenge_key(registration.challenge), None)
            new = sk.verify_registration(
                registration, consumed, user_id=USER, session_key=session_key, now=now, rp_id=rp_id, origins=origins
            )
            self.credentials[new.credential_id] = Key(name, new, new.sign_count)
            return Response(json.dumps({"next": "/"}), mimetype="application/json")
        if path == "/finish/authenticate":
            assertion = sk.parse_authentication_response(body.get("credential"))
            consumed = self.states.pop(sk.challenge_key(assertion.challenge), None)
            with self.lock:  # the store's row lock: read the counter, check, write it
                key = self.credentials.get(assertion.credential_id)
                stored = None if key is None else sk.StoredCredential(
                    key.credential.credential_id, key.credential.public_key, key.sign_count
                )
                count = sk.verify_authentication(
                    assertion, consumed, credential=stored, user_id=USER, session_key=session_key, now=now,
                    rp_id=rp_id, origins=origins, user_handles=sk.user_handles(self.keys, USER),
                )
                assert key is not None
                key.sign_count = count
            return Response(json.dumps({"next": "/signed-in"}), mimetype="application/json")
        return Response("not found", 404)

    def page(self, *, signed_in: bool) -> str:
        keys = "".join(f"<li>{html.escape(k.name)}</li>" for k in self.credentials.values())
        banner = "<p role='status'>Signed in with your security key.</p>" if signed_in else ""
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Security keys</title>
<script src="/twofa-webauthn.js" defer></script></head>
<body>
{banner}
<h2>Your security keys</h2><ul>{keys}</ul>
<form data-twofa-webauthn="register" data-begin-url="/begin/register" data-finish-url="/finish/register" hidden>
  <input type="hidden" name="csrf_token" value="{CSRF}">
  <label for="security-key-name">Security key name</label>
  <input id="security-key-name" name="name" maxlength="64" required autocomplete="off">
  <button type="submit">Add a security key</button>
  <p role="status" aria-live="polite" data-twofa-webauthn-status></p>
</form>
<div data-twofa-webauthn="authenticate" data-begin-url="/begin/authenticate"
     data-finish-url="/finish/authenticate" hidden>
  <input type="hidden" name="csrf_token" value="{CSRF}">
  <button type="button">Use a security key</button>
  <p role="status" aria-live="polite" data-twofa-webauthn-status></p>
</div>
<form method="post" action="/verify"><label for="code">Authentication code</label>
  <input id="code" name="code" autocomplete="one-time-code"><button type="submit">Verify</button></form>
</body></html>"""
