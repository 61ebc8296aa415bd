"""Each 2FA step, once: the HTML pages, the JSON API and the CLI all call these.

Nothing here knows about HTTP. Checks that belong to the request (CSRF, the
password re-confirmation window) are the web layer's; everything that reads or
writes 2FA state, counts failures, logs and notifies happens here.
"""

from __future__ import annotations

import hmac
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import segno

from . import importing, inputs, recovery, throttle, tokens, totp, trusted
from .cache import TTLCache
from .config import Settings
from .crypto import KeyRing
from .decision import token_usable
from .errors import (
    CodeReused,
    InvalidCode,
    InvalidRequest,
    InvalidToken,
    NoSuchAuthenticator,
    NoSuchBrowser,
    NotEnabled,
    RememberOff,
    SetupExpired,
    Throttled,
    TooManyAuthenticators,
    TwoFactorError,
    WrongPassword,
)
from .i18n import N_
from .identity import CheckPasswordFunc, NotifyFunc
from .invalidation import announce, user_change
from .store.base import (
    DEFAULT_NAMES,
    AddedFactor,
    AuthenticatorRecord,
    Check,
    LockedUser,
    NewAuthenticator,
    ResetCounts,
    Store,
    TokenRecord,
    TrustedBrowserRecord,
    UserState,
)
from .token_service import TokenService

log = logging.getLogger("twofa_middleware")


@dataclass(frozen=True)
class Enrollment:
    """What the user needs to add the account to an authenticator app."""

    secret: str
    otpauth_uri: str
    qr_svg: str
    qr_data_uri: str

    @property
    def grouped_secret(self) -> str:
        return totp.grouped(self.secret)


@dataclass(frozen=True)
class Added:
    """A factor stored: the new recovery codes when it turned 2FA on (none when it joined
    others), and how many of the user's live tokens turning 2FA on revoked."""

    recovery_codes: list[str]
    tokens_revoked: int = 0


@dataclass(frozen=True)
class RecoveryCodeView:
    code: str  # as displayed: xxxxx-xxxxx
    used: bool


class TwoFactorService:
    """The 2FA operations for one configuration.

    :param clock: seconds since the epoch; tests pass a fixed one.
    """

    def __init__(
        self,
        settings: Settings,
        keyring: KeyRing,
        store: Store,
        check_password: CheckPasswordFunc,
        notify: NotifyFunc | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.keyring = keyring
        self.store = store
        self._check_password = check_password
        self._notify = notify
        self.clock = clock
        # Entries live cache_seconds: 20,000 is more users than one process serves in that time.
        ttl = settings.cache_seconds

        def now() -> float:  # the service's clock, even when a test replaces it later
            return self.clock()

        self.states: TTLCache[str, UserState] = TTLCache(ttl, maxsize=20_000, clock=now)
        self.token_records: TTLCache[bytes, TokenRecord] = TTLCache(ttl, maxsize=20_000, clock=now)
        # Well-formed tokens the store does not know: a flood of made-up ones must
        # not become a flood of queries. A new token is 256 fresh random bits, so
        # it cannot be in here already; bounded, so the flood cannot grow memory.
        self._unknown_tokens: TTLCache[bytes, bool] = TTLCache(ttl, maxsize=10_000, clock=now)
        # Token id -> when this process last stamped its use: a plain dict read on every token
        # request (a TTLCache call costs as much again); emptied when it reaches 20,000.
        self._stamped: dict[int, float] = {}
        # Trusted-browser cookies that can never spare a code again (no such record, wrong
        # secret, revoked, expired), by a hash of the cookie: a browser with a dead one asks
        # the store once, not at every request before the code. Live records are never
        # cached, so a revocation holds in every instance at once.
        self._dead_browsers: TTLCache[str, bool] = TTLCache(ttl, maxsize=10_000, clock=now)
        # Create, list and revoke tokens: steps that need no keys (the CLI runs them without any).
        self.tokens = TokenService(settings, store, self._now, self._announce, self._forget_token)
        # Other instances' changes, told at once (PostgreSQL): see invalidation.py.
        self._feed = store.change_feed() if settings.instant_invalidation else None
        if self._feed is not None:
            self._feed.subscribe(self)

    # -- state -----------------------------------------------------------------

    def state(self, user_id: str) -> UserState:
        """The user's state, from this process's cache when fresh (no database)."""
        if self._feed is not None:
            # At every call, hit or not (one compare when listening): a forked child's cache is
            # its parent's copy, which no listener of the child's keeps current until it starts.
            # Before the read, too: a change after it is then told.
            self._feed.ensure_listening()
        state = self.states.get(user_id)
        if state is None:
            generation = self.states.generation
            state = self.store.user_state(user_id)
            self.states.set(user_id, state, since=generation)
        return state

    @property
    def listener(self) -> Callable[[], None] | None:
        """What to call at every cache read, hit or not (see :meth:`state`), to be told of
        other instances' changes; None when they are never told (SQLite)."""
        return None if self._feed is None else self._feed.ensure_listening

    def forget_cached(self) -> None:
        """Drop every cached user state and token, as a restart would."""
        for cache in (self.states, self.token_records, self._unknown_tokens, self._dead_browsers):
            cache.clear()
        self._stamped.clear()

    def _now(self) -> float:
        return self.clock()  # read at each call: tests replace ``clock``

    def _changed(self, user_id: str, *, everywhere: bool = True) -> None:
        """Drop the user's cached state here, and (``everywhere``) in every other instance:
        pass False only when the write changed nothing another instance caches."""
        self.states.pop(user_id)
        if everywhere:
            announce(self.store, self.settings, user_change(user_id))

    def drop_user(self, user_id: str) -> None:
        """Another instance changed this user: their state and tokens are read anew."""
        self.states.pop(user_id)
        self.token_records.discard_where(lambda r: r.user_id == user_id)

    def drop_token(self, token_id: int) -> None:
        """Another instance revoked this token."""
        self._forget_token(token_id)

    def _event(self, user_id: str, event: str, detail: str = "", ip: str | None = None) -> None:
        self.store.log(user_id, event, detail, ip, self.clock())
        self._announce(user_id, event)

    def _announce(self, user_id: str, event: str) -> None:
        """Tell the process log and the app's notify hook of an event already in the security log."""
        log.info("twofa event=%s user=%s", event, user_id)
        if self._notify is not None:
            try:
                self._notify(user_id, event)
            except Exception:  # the app's hook must not break the security step
                log.exception("twofa notify hook failed for event %s", event)

    # -- password re-confirmation --------------------------------------------

    def confirm_password(self, user_id: str, password: object, ip: str | None = None) -> None:
        """Check the password for a sensitive step.

        Wrong passwords are throttled per user and across instances: at most
        ``lockout_threshold`` tries within ``lockout_max_seconds`` are judged.
        Each try is reserved (logged as failed) under the user's row lock
        before the password is checked, and taken back only when it was right,
        so concurrent guesses cannot all slip past the count: someone holding a
        stolen session cannot guess the password without limit.
        """
        password = inputs.text(password, N_("Enter your password."), normalise=False)
        if not password:
            raise InvalidRequest(N_("Enter your password."))
        now = self.clock()
        window, limit = self.settings.lockout_max_seconds, self.settings.lockout_threshold
        reservation = self.store.reserve_event(user_id, "password_failed", ip, now, now - window, limit)
        if reservation is None:
            recent = self.store.event_times(user_id, "password_failed", now - window)
            oldest_counted = recent[min(limit, len(recent)) - 1] if recent else now
            raise Throttled(throttle.retry_after(oldest_counted + window, now), Throttled.PASSWORDS)
        try:
            right = self._check_password(user_id, password)
        except BaseException:
            self.store.forget_event(reservation)  # not a wrong password: the check itself failed
            raise
        if right:
            self.store.forget_event(reservation)
            return
        self._announce(user_id, "password_failed")
        raise WrongPassword()

    # -- enrollment --------------------------------------------------------------

    def enrollment(self, user_id: str, session_key: str = "") -> Enrollment:
        """The pending secret for this sign-in (``session_key``), made on first call and
        kept for a while, so reloading the page shows the same QR code."""
        self.check_room(user_id)  # before a setup is stored that could never be confirmed
        enrollment = self.pending_enrollment(user_id, start=True, session_key=session_key)
        assert enrollment is not None  # noqa: S101 - start=True always makes one
        return enrollment

    def pending_enrollment(self, user_id: str, *, start: bool = False, session_key: str = "") -> Enrollment | None:
        """The setup under way in this sign-in (of the first authenticator app, or one more),
        None when there is none (unless ``start``): a refused request stores nothing.

        A setup is its sign-in's alone: another sign-in of the user (someone holding the
        password) never sees its key; starting there replaces it (the newest setup wins)."""
        now = self.clock()
        stored = self.store.pending_secret(user_id, now - self.settings.enrollment_seconds)
        secret = None if stored is None else self._own_setup(stored, user_id, session_key)
        if secret is None:
            if not start:
                return None
            secret = totp.new_secret()
            self.store.set_pending_secret(user_id, self._seal_setup(secret, user_id, session_key), now)
        uri = totp.provisioning_uri(secret, self.settings.label(user_id), self.settings)
        qr = segno.make(uri, error="m")
        return Enrollment(
            secret=secret,
            otpauth_uri=uri,
            qr_svg=qr.svg_inline(scale=5, border=4, dark="#111", light="#fff"),
            qr_data_uri=qr.svg_data_uri(scale=5, border=4, dark="#111", light="#fff"),
        )

    def _setup_tags(self, user_id: str, session_key: str) -> list[str]:
        """The tags of the sign-in ``session_key`` that a setup's stored secret carries, newest key first."""
        return self.keyring.macs("twofa.setup", f"{user_id}\0{session_key}")

    def _seal_setup(self, secret: str, user_id: str, session_key: str) -> str:
        """The pending secret as stored: encrypted, with the tag of the sign-in that started it."""
        return self.keyring.encrypt(f"{self._setup_tags(user_id, session_key)[0]} {secret}")

    def _own_setup(self, stored: str, user_id: str, session_key: str) -> str | None:
        """The secret of a pending setup this sign-in started; None for another's (or for
        one stored before setups carried their sign-in, or under a key since retired)."""
        try:
            tag, _, secret = self.keyring.decrypt(stored).partition(" ")
        except ValueError:
            return None
        mine = [hmac.compare_digest(tag, t) for t in self._setup_tags(user_id, session_key)]
        return secret if secret and any(mine) else None

    def confirm_enrollment(
        self, user_id: str, raw_code: object, ip: str | None = None, name: object = None, session_key: str = "",
        *, epoch: int | None = None,
    ) -> Added:
        """Store the new authenticator app once the code proves it works.

        The first factor turns 2FA on, revokes the user's live tokens and returns the new
        recovery codes; one more returns none (the user keeps the codes they have). Only the sign-in that
        started the setup confirms it (another gets SetupExpired, and nothing is counted).
        ``epoch``: the 2FA epoch the request was allowed under (TwoFactorChanged if it moved).
        """
        code = totp.parse_code(raw_code, self.settings)
        label = self.authenticator_name(name, "totp")
        self.check_room(user_id)  # a full list: refused before the code is judged or counted
        now = self.clock()
        accepted: list[tuple[str, str, int]] = []

        def check(row: LockedUser) -> int:
            (pending,) = row.factors
            assert pending.secret is not None  # noqa: S101 - a pending factor is always a secret
            secret = self._own_setup(pending.secret, user_id, session_key)
            if secret is None:
                raise SetupExpired()
            step = totp.verify(secret, code, now, -1, self.settings)
            accepted.append((pending.secret, secret, step))
            return step

        try:
            self.store.attempt_enrollment(
                user_id, now, check, self._lock_seconds, started_after=now - self.settings.enrollment_seconds
            )
        except (InvalidCode, CodeReused) as exc:
            self._event(user_id, "enroll_failed", exc.code, ip)
            raise
        sealed, secret, step = accepted[0]
        new = NewAuthenticator("totp", label, secret=self.keyring.encrypt(secret))
        return self._add(user_id, new, step, ip, pending=sealed, epoch=epoch)

    def _add(
        self, user_id: str, new: NewAuthenticator, step: int, ip: str | None, *, pending: str | None = None,
        epoch: int | None = None,
    ) -> Added:
        """Store a proven factor; the recovery codes when it is the first (2FA turned on).
        ``pending``: the setup's pending secret as stored, which must not be spent yet."""
        codes = recovery.generate(self.settings.recovery_code_count)
        added = self._store_factor(user_id, new, step, self._code_rows(user_id, codes), ip, pending=pending,
                                   epoch=epoch)
        self._event(user_id, "enabled" if added.first else "authenticator_added", f"{added.id} {new.kind}", ip)
        if not added.first:
            return Added([])
        self._end_trust(user_id, "2FA set up anew", ip)
        return Added([recovery.display(c) for c in codes], added.tokens_revoked)

    def _store_factor(
        self, user_id: str, new: NewAuthenticator, step: int, codes: list[tuple[str, str]], ip: str | None,
        *, pending: str | None = None, epoch: int | None = None,
    ) -> AddedFactor:
        """The store's add, within ``max_authenticators``, and what it revoked dropped from
        every cache: the tokens go with the user's state (:meth:`drop_user` in every instance)."""
        added = self.store.add_authenticator(
            user_id, new, step, codes, self.clock(), pending=pending,
            limit=self.settings.max_authenticators, remote_addr=ip, epoch=epoch,
        )
        self._changed(user_id)  # other instances drop the user's state and tokens alike
        if added.tokens_revoked:
            self.token_records.discard_where(lambda r: r.user_id == user_id)
            self._announce(user_id, "tokens_revoked")  # its log row is in the add's transaction
        return added

    def check_room(self, user_id: str) -> None:
        """TooManyAuthenticators when the user has ``max_authenticators`` already: said before a
        setup or a security-key ceremony starts (the store checks again as it adds)."""
        limit = self.settings.max_authenticators
        if self.state(user_id).enabled and len(self.store.authenticators(user_id)) >= limit:
            raise TooManyAuthenticators(limit)

    def tokens_to_revoke(self, user_id: str) -> int:
        """How many tokens adding a factor now would revoke: the live ones while 2FA is off, else none."""
        return 0 if self.state(user_id).enabled else self.tokens.live_count(user_id)

    @staticmethod
    def authenticator_name(raw: object, kind: str) -> str:
        """The name the user gave, or the kind's own when they gave none."""
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            return DEFAULT_NAMES[kind]
        return inputs.name(raw, N_("Give the authenticator a name of up to 100 characters."))

    # -- the list of authenticators ---------------------------------------------------

    def authenticators(self, user_id: str) -> list[AuthenticatorRecord]:
        return self.store.authenticators(user_id)

    def rename_authenticator(self, user_id: str, authenticator_id: int, raw_name: object) -> str:
        name = inputs.name(raw_name, N_("Give the authenticator a name of up to 100 characters."))
        if not self.store.rename_authenticator(user_id, authenticator_id, name):
            raise NoSuchAuthenticator()
        return name

    def remove_authenticator(self, user_id: str, authenticator_id: int, ip: str | None = None) -> None:
        """Remove one factor (never the last: that is :meth:`disable`); every sign-in
        verified before ends, as at :meth:`disable` (the caller re-verifies its own)."""
        if not self.store.remove_authenticator(user_id, authenticator_id):
            raise NoSuchAuthenticator()
        self._changed(user_id)
        self._event(user_id, "authenticator_removed", str(authenticator_id), ip)

    def _code_rows(self, user_id: str, codes: list[str]) -> list[tuple[str, str]]:
        return [
            (self.keyring.mac("twofa.recovery", f"{user_id}\0{c}"), self.keyring.encrypt(c)) for c in codes
        ]

    # -- the second factor at sign-in --------------------------------------------

    def verify(self, user_id: str, raw_code: object, ip: str | None = None) -> str:
        """Check a TOTP or recovery code; returns ``"totp"`` or ``"recovery"``.

        One store transaction under the user's row lock: a code or time step is
        spent once, and the failure count and the security-log row of the outcome
        are written with it (the notify hook hears of it once committed).
        """
        now = self.clock()
        method, check = self._code_check(user_id, raw_code, now)
        passed = "verified" if method == "totp" else "recovery_code_used"

        def log(refused: TwoFactorError | None) -> list[tuple[str, str]]:
            return [(passed, method)] if refused is None else self._refusal_events(method, refused)

        try:
            self.store.attempt(user_id, now, check, self._lock_seconds, log, ip)
        except TwoFactorError as exc:
            self._changed(user_id, everywhere=self.locked_now(exc))
            # Counted and logged in the attempt's transaction. Without ``attempt`` nothing was
            # judged (a lockout, 2FA off, the store failing): nothing to log or to tell.
            if exc.attempt is not None:
                for event, _detail in self._refusal_events(method, exc):
                    self._announce(user_id, event)
            raise
        # A spent time step or a reset failure count is in no cache; a spent recovery code is.
        self._changed(user_id, everywhere=method == "recovery")
        self._announce(user_id, passed)
        if method == "recovery":  # the phone may be lost or stolen: no browser skips the code any more
            self._end_trust(user_id, "recovery code used", ip)
        return method

    def _code_check(self, user_id: str, raw_code: object, now: float) -> tuple[str, Check]:
        """``(method, check)``: which kind of code was typed, and how the locked row judges it."""
        if not isinstance(raw_code, str):
            raise InvalidRequest(N_("Enter the code from your authenticator app or a recovery code."))
        if totp.looks_like_totp(raw_code, self.settings):
            code = totp.parse_code(raw_code, self.settings)

            def check_totp(row: LockedUser) -> int:
                return self._match_totp(row, code, now)

            return "totp", check_totp
        bare = recovery.normalise(raw_code)
        if bare is None:
            raise InvalidRequest(
                N_("Enter the %(digits)s-digit code from your app, or a recovery code."),
                digits=self.settings.totp_digits,
            )
        hashes = self.keyring.macs("twofa.recovery", f"{user_id}\0{bare}")

        def check_recovery(row: LockedUser) -> int:
            if row.consume_recovery_code(hashes, now):
                return row.last_step
            raise InvalidCode(N_("That recovery code is not valid or has already been used."))

        return "recovery", check_recovery

    def _match_totp(self, row: LockedUser, code: str, now: float) -> int:
        """The step of the code, from whichever of the user's authenticator apps it came.

        Every app is checked (the time does not tell which matched). The last
        accepted step is the user's, across all apps: a code is never accepted
        for a step the user already spent with another app.
        """
        matched: tuple[int, int] | None = None
        refusal: InvalidCode | CodeReused | None = None
        for factor in row.factors:
            if factor.kind != "totp" or factor.secret is None:
                continue
            try:
                step = totp.verify(self.keyring.decrypt(factor.secret), code, now, row.last_step, self.settings)
            except (InvalidCode, CodeReused) as exc:
                if refusal is None or _telling(exc) > _telling(refusal):
                    refusal = exc
                continue
            if matched is None:
                matched = (factor.id, step)
        if matched is None:
            raise refusal or InvalidCode()
        row.used(matched[0], now)
        return matched[1]

    @staticmethod
    def _refusal_events(method: str, refusal: TwoFactorError) -> list[tuple[str, str]]:
        """The security-log rows ``(event, detail)`` of a refused code: the refusal, and the lockout it started."""
        events = [("verify_failed", f"{method}: {refusal.code}")]
        if refusal.attempt is not None and refusal.attempt.locked_until is not None:
            events.append(("lockout", f"after {refusal.attempt.failures} failures"))
        return events

    @staticmethod
    def locked_now(refusal: TwoFactorError) -> bool:
        """This refusal started a lockout (the cached state's ``locked_until`` changed)."""
        return refusal.attempt is not None and refusal.attempt.locked_until is not None

    def _lock_seconds(self, failures: int) -> int:
        return throttle.lock_seconds(failures, self.settings)

    # -- recovery codes and disabling ----------------------------------------------

    def recovery_codes(self, user_id: str) -> list[RecoveryCodeView]:
        if not self.state(user_id).enabled:
            raise NotEnabled()
        return [
            RecoveryCodeView(recovery.display(self.keyring.decrypt(enc)), used)
            for enc, used in self.store.recovery_codes(user_id)
        ]

    def regenerate_recovery_codes(self, user_id: str, ip: str | None = None) -> list[str]:
        codes = recovery.generate(self.settings.recovery_code_count)
        self.store.replace_recovery_codes(user_id, self._code_rows(user_id, codes), self.clock())
        self._changed(user_id)
        self._event(user_id, "recovery_codes_regenerated", ip=ip)
        return [recovery.display(c) for c in codes]

    def disable(self, user_id: str, ip: str | None = None) -> None:
        if not self.store.disable(user_id, self.clock()):
            raise NotEnabled()
        self._changed(user_id)
        self._event(user_id, "disabled", ip=ip)
        self._end_trust(user_id, "2FA disabled", ip)

    # -- personal access tokens ----------------------------------------------------

    def _forget_token(self, token_id: int) -> None:
        self.token_records.discard_where(lambda r: r.id == token_id)

    def token_record(self, token: str, now: float | None = None) -> TokenRecord | None:
        """The stored record of a token (live or not), None when it is not one of ours.

        Steady state: no database. Cached by a keyed hash, so no plaintext token is
        kept, even in memory; a hit means the hash matched a real token, so the
        format check and the database are needed on a miss only. Unknown
        well-formed tokens are remembered too, for ``cache_seconds``. ``now``: the
        clock as the caller read it for this request.
        """
        if len(token) != tokens.LENGTH or not token.isascii():
            return None
        if now is None:
            now = self.clock()
        if self._feed is not None:
            self._feed.ensure_listening()  # hit or not, as in :meth:`state`
        key = tokens.cache_key(token)
        record = self.token_records.get(key, now)
        if record is not None:
            return record
        if not tokens.is_well_formed(token) or self._unknown_tokens.get(key, now):
            return None
        generation = self.token_records.generation
        record = self.store.token_by_hash(tokens.hash_token(token))
        if record is None:
            self._unknown_tokens.set(key, True)
            return None
        ttl = None if record.expires_at is None else max(0.0, record.expires_at - now)
        self.token_records.set(key, record, ttl, since=generation)
        return record

    def note_token_use(self, record: TokenRecord, now: float | None = None) -> None:
        """Stamp a token's last use, at most once a minute per process: only a use that
        was let through counts (a refused one changes nothing stored)."""
        if now is None:
            now = self.clock()
        if now <= self.next_stamp(record):
            return
        if len(self._stamped) >= 20_000:
            self._stamped.clear()
        self._stamped[record.id] = now
        self.store.touch_token(record.id, now)

    def next_stamp(self, record: TokenRecord) -> float:
        """When a use of this token is next worth stamping: a minute after its last one."""
        return max(record.last_used_at or 0, self._stamped.get(record.id, -math.inf)) + 60

    def authenticate_token(self, token: str, path: str) -> TokenRecord:
        """The live token's record if it may be used on ``path``, else InvalidToken."""
        record = self.token_record(token)
        if record is None or not token_usable(record, path, self.clock()):
            raise InvalidToken()
        self.note_token_use(record)
        return record

    def retry_after(self, user_id: str) -> int:
        return throttle.retry_after(self.state(user_id).locked_until, self.clock())

    # -- the operator's reset --------------------------------------------------------

    def reset(self, user_id: str, by: str = "operator") -> ResetCounts:
        """Turn 2FA off for a user who lost phone and codes, and revoke their tokens and
        trusted browsers, in one store transaction: whoever took the phone keeps no way in. The log
        and the notify hook get ``disabled``; raises NotEnabled when it was off."""
        counts = self.store.reset(user_id, self.clock())
        if counts is None:
            raise NotEnabled()
        self._changed(user_id)  # elsewhere, the user's tokens go with their state
        self.token_records.discard_where(lambda r: r.user_id == user_id)
        self._event(
            user_id,
            "disabled",
            f"reset by {by}; tokens revoked: {counts.tokens_revoked}; browsers revoked: {counts.browsers_revoked}",
        )
        return counts


    # -- moving in from another system ---------------------------------------------

    def import_totp(self, user_id: str, secret: str, name: str, last_step: int = 0, ip: str | None = None) -> str:
        """Add a secret the user already has in an app as one of their authenticators.

        The first one turns 2FA on with fresh recovery codes (viewable after the
        password); ``last_step`` is the last time step the old system accepted,
        so a code spent there is not accepted here. Returns ``"imported"``, or
        ``"already imported"`` when this very secret is one of theirs (nothing
        is written but a later ``last_step``: running an import twice is safe,
        and a code spent on the old system in between stays spent).
        """
        user_id = inputs.text(user_id, "not a valid user id", max_length=255, normalise=False)
        try:
            secret = importing.base32_secret(secret)
        except importing.Refused as exc:
            raise InvalidRequest(str(exc)) from None
        name = inputs.name(name, "not a valid name", max_length=importing.MAX_NAME)
        for stored in self.store.totp_secrets(user_id):
            if hmac.compare_digest(self.keyring.decrypt(stored).encode(), secret.encode()):
                if last_step > 0:
                    self.store.raise_last_step(user_id, last_step)
                return "already imported"
        codes = recovery.generate(self.settings.recovery_code_count)
        new = NewAuthenticator("totp", name, secret=self.keyring.encrypt(secret))
        self._store_factor(user_id, new, max(last_step, 0), self._code_rows(user_id, codes), ip)
        self._event(user_id, "imported", name, ip)
        return "imported"

    # -- trusted browsers ("Remember this browser") ------------------------------------

    def trust_browser(
        self, user_id: str, user_agent: str | None, ip: str | None = None, *, epoch: int | None = None
    ) -> tuple[int, str]:
        """Remember this browser for ``remember_days``: ``(record id, secret)`` for its cookie.

        Called right after the code was accepted at sign-in; the record carries the
        user's epoch (``epoch``, the one the code was checked under, else the current
        one), so turning 2FA off or on again, or removing an authenticator, ends it.
        """
        days = self.settings.remember_days
        if not days:
            raise RememberOff()
        state = self.state(user_id)
        if not state.enabled:
            raise NotEnabled()
        now = self.clock()
        secret = trusted.new_secret()
        label = trusted.label(user_agent)
        browser_id = self.store.add_trusted_browser(
            user_id, trusted.hash_secret(secret), label, ip, state.epoch if epoch is None else epoch,
            now + days * 86400, now
        )
        self._event(user_id, "browser_trusted", f"{browser_id}: {label}", ip)
        return browser_id, secret

    def presented_browser(self, candidates: list[tuple[int, str]]) -> TrustedBrowserRecord | None:
        """The record one of the request's trusted-browser cookies proves (by its secret),
        live or not, of whichever user: :func:`~.decision.decide` judges it. None when
        none proves one; a store failure is none too (the code is asked: fail closed)."""
        now = self.clock()
        for browser_id, secret in candidates:
            secret_hash = trusted.hash_secret(secret)
            key = f"{browser_id}:{secret_hash}"
            if self._dead_browsers.get(key):
                continue
            try:
                record = self.store.trusted_browser(browser_id)
            except TwoFactorError:
                log.warning("twofa: trusted browser lookup failed; the code is asked")
                return None
            proved = record is not None and hmac.compare_digest(record.secret_hash, secret_hash)
            if proved and record is not None and record.revoked_at is None and record.expires_at > now:
                return record
            self._dead_browsers.set(key, True)
        return None

    def note_browser_use(self, record: TrustedBrowserRecord, ip: str | None) -> None:
        """Stamp a trusted browser's last use (it spared the code at a sign-in)."""
        try:
            self.store.touch_trusted_browser(record.id, ip, self.clock())
        except TwoFactorError:  # a stamp is not worth failing a sign-in for
            log.warning("twofa: could not stamp a trusted browser's last use")

    def browsers(self, user_id: str) -> list[TrustedBrowserRecord]:
        """The user's live trusted browsers, of the current enrollment only."""
        epoch = self.state(user_id).epoch
        return [b for b in self.store.trusted_browsers(user_id, self.clock()) if b.epoch == epoch]

    def revoke_browser(self, user_id: str, browser_id: int, ip: str | None = None) -> None:
        """Revoke one of the user's live trusted browsers; NoSuchBrowser when it is not one."""
        if not self.store.revoke_trusted_browsers(user_id, browser_id, self.clock()):
            raise NoSuchBrowser()
        self._event(user_id, "browser_revoked", str(browser_id), ip)

    def revoke_browsers(self, user_id: str, ip: str | None = None) -> int:
        """The user's "Revoke all": how many were revoked."""
        count = self.store.revoke_trusted_browsers(user_id, None, self.clock())
        self._event(user_id, "browsers_revoked", str(count), ip)
        return count

    def forget_browsers(self, user_id: str, ip: str | None = None) -> int:
        """End all trust of the user's browsers (the app's password changed, an operator's
        reset): every later sign-in asks for the code. Logged; how many were revoked."""
        count = self.store.revoke_trusted_browsers(user_id, None, self.clock())
        self._event(user_id, "browsers_forgotten", str(count), ip)
        return count

    def _end_trust(self, user_id: str, reason: str, ip: str | None) -> None:
        count = self.store.revoke_trusted_browsers(user_id, None, self.clock())
        if count:
            self._event(user_id, "browsers_forgotten", f"{count}: {reason}", ip)


def _telling(refusal: InvalidCode | CodeReused) -> int:
    """How much a refusal tells the user: "already used" beats a clock hint beats "wrong"."""
    if isinstance(refusal, CodeReused):
        return 2
    return 1 if refusal.drift_seconds is not None else 0
