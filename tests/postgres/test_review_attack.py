"""The attacker's review, on SQLite and PostgreSQL alike: what the store does with odd
request facts it is handed."""

from __future__ import annotations

from typing import Any

import pytest

from twofa_middleware.errors import WrongPassword

from .helpers import PASSWORD, enroll, make_service

# What a WSGI server may put in REMOTE_ADDR that is no IP: a Unix socket's path, a
# forwarded-for value a misconfigured ProxyFix took as it came.
LONG_ADDRESS = "/run/example-app/gunicorn-" + "w" * 60 + ".sock"


def test_a_long_client_address_neither_refuses_a_right_code_nor_a_password(make_store: Any) -> None:
    """PostgreSQL refused the whole verification for the log row's address (64
    characters at most): a right code, or a right password, was a 400 "A value in
    the request is too long", for ever from that address; SQLite stored it whole.
    The address is kept cut to its column now, on both."""
    service = make_service(make_store(), remember_days=30)
    _, codes = enroll(service, "alice")
    assert service.verify("alice", codes[0], ip=LONG_ADDRESS) == "recovery"
    service.confirm_password("alice", PASSWORD, ip=LONG_ADDRESS)
    with pytest.raises(WrongPassword):
        service.confirm_password("alice", "wrong", ip=LONG_ADDRESS)
    browser_id, _ = service.trust_browser("alice", "Firefox", ip=LONG_ADDRESS)
    service.store.touch_trusted_browser(browser_id, LONG_ADDRESS, service.clock())
    logged = [(e.event, e.remote_addr) for e in service.store.events("alice")]
    assert ("recovery_code_used", LONG_ADDRESS[:64]) in logged
    assert ("password_failed", LONG_ADDRESS[:64]) in logged
    assert service.store.trusted_browser(browser_id).ip == LONG_ADDRESS[:64]  # type: ignore[union-attr]
