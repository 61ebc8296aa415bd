"""Race freedom, proved with real threads on SQLite and PostgreSQL.

Each test runs its threads through several stores with engines of their own,
as several app instances would, and releases them together from a barrier.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from twofa_middleware.config import Settings
from twofa_middleware.crypto import KeyRing
from twofa_middleware.errors import CodeReused, InvalidCode, Throttled
from twofa_middleware.service import TwoFactorService

from .helpers import KEY, PASSWORD, enroll, make_service, wrong_code

INSTANCES = 3


def instances(make_store: Callable[..., Any], **settings: Any) -> list[TwoFactorService]:
    return [make_service(make_store(), **settings) for _ in range(INSTANCES)]


def run_together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run every call on its own thread at once; each result is a value or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = calls[i]()
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return results


def failures_of(service: TwoFactorService, user_id: str) -> int:
    return service.store.failures(user_id)  # type: ignore[attr-defined]


def kinds(results: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        name = type(r).__name__ if isinstance(r, Exception) else r
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_one_recovery_code_from_30_parallel_requests_works_once(make_store):
    services = instances(make_store, lockout_threshold=100)
    _, codes = enroll(services[0], "alice")
    results = run_together([lambda s=services[i % INSTANCES]: s.verify("alice", codes[0]) for i in range(30)])
    assert kinds(results) == {"recovery": 1, "InvalidCode": 29}
    assert services[0].store.user_state("alice").recovery_codes_left == len(codes) - 1


def test_one_recovery_code_spent_once_even_as_the_lockout_kicks_in(make_store):
    services = instances(make_store)  # default threshold: 5 failures lock
    _, codes = enroll(services[0], "alice")
    results = run_together([lambda s=services[i % INSTANCES]: s.verify("alice", codes[3]) for i in range(30)])
    outcome = kinds(results)
    assert outcome.pop("recovery") == 1
    assert set(outcome) <= {"InvalidCode", "Throttled"}


def test_one_totp_code_from_10_parallel_requests_works_once(make_store):
    services = instances(make_store, lockout_threshold=100)
    authenticator, _ = enroll(services[0], "alice")
    # The enrollment spent this time step; the next one is inside the window and unused.
    code = authenticator.at(time.time() + 30)
    results = run_together([lambda s=services[i % INSTANCES]: s.verify("alice", code) for i in range(10)])
    assert kinds(results) == {"totp": 1, "CodeReused": 9}


def test_parallel_wrong_codes_each_count_and_then_lock(make_store):
    """N parallel wrong codes raise the count by exactly N (no lost update), each
    attempt seeing a distinct count; the one that reaches the threshold locks.
    While locked, attempts are refused (Throttled) without being counted, so a
    burst cannot push the lock further out than the policy says."""
    threshold, first = 12, 8
    services = instances(make_store, lockout_threshold=threshold, lockout_base_seconds=60)
    authenticator, _ = enroll(services[0], "alice")
    wrong = wrong_code(authenticator)

    def attempt(s: TwoFactorService) -> Any:
        try:
            s.verify("alice", wrong)
        except InvalidCode as exc:
            return exc.attempt.failures  # type: ignore[attr-defined]

    def burst(n: int) -> list[Any]:
        return run_together([lambda s=services[i % INSTANCES]: attempt(s) for i in range(n)])

    assert sorted(burst(first)) == list(range(1, first + 1))
    assert failures_of(services[0], "alice") == first
    assert services[0].store.user_state("alice").locked_until is None

    assert sorted(burst(threshold - first)) == list(range(first + 1, threshold + 1))
    locked_until = services[0].store.user_state("alice").locked_until
    assert locked_until is not None and 50 < locked_until - time.time() <= 60

    after = burst(6)
    assert all(isinstance(r, Throttled) for r in after), after
    assert failures_of(services[0], "alice") == threshold
    assert services[0].store.user_state("alice").locked_until == locked_until


def test_no_old_recovery_code_works_once_regenerate_has_committed(make_store):
    services = instances(make_store, lockout_threshold=10_000)
    _, old = enroll(services[0], "alice")
    regenerated_at: list[float] = []
    new: list[str] = []
    spent: list[tuple[float, str]] = []  # (when the attempt started, code)
    stop = threading.Event()

    def regenerate() -> None:
        time.sleep(0.05)
        new.extend(services[0].regenerate_recovery_codes("alice"))
        regenerated_at.append(time.monotonic())

    def hammer(s: TwoFactorService, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            code = rng.choice(old)
            started = time.monotonic()
            try:
                s.verify("alice", code)
            except (InvalidCode, CodeReused):
                continue
            spent.append((started, code))

    def regenerate_then_stop() -> None:
        regenerate()
        time.sleep(0.2)  # keep trying old codes for a while after the commit
        stop.set()

    calls: list[Callable[[], Any]] = [lambda s=services[i % INSTANCES], i=i: hammer(s, i) for i in range(8)]
    results = run_together([*calls, regenerate_then_stop])
    assert not any(isinstance(r, Exception) for r in results), results
    (committed,) = regenerated_at
    assert all(started < committed for started, _ in spent), "an old code worked after regenerate returned"
    assert len({code for _, code in spent}) == len(spent), "an old code worked twice"
    for code in old:
        try:
            services[1].verify("alice", code)
        except InvalidCode:
            continue
        raise AssertionError(f"old code {code} still works")
    assert services[2].verify("alice", new[0]) == "recovery"


def test_50_parallel_wrong_passwords_are_judged_at_most_threshold_times(make_store):
    """Review finding 4: the re-confirmation throttle was check-then-act, so 50
    parallel guesses were all judged. Each try is now reserved under the user's
    row lock before the password is checked."""
    judged = []
    lock = threading.Lock()

    def check_password(user_id: str, password: str) -> bool:
        with lock:
            judged.append(password)
        time.sleep(0.01)  # widen the window a check-then-act would race through
        return False

    services = [
        TwoFactorService(Settings(), KeyRing(KEY), make_store(), check_password) for _ in range(INSTANCES)
    ]
    results = run_together(
        [lambda s=services[i % INSTANCES], i=i: s.confirm_password("alice", f"guess-{i}") for i in range(50)]
    )
    threshold = Settings().lockout_threshold
    assert len(judged) <= threshold
    outcome = kinds(results)
    assert outcome == {"WrongPassword": len(judged), "Throttled": 50 - len(judged)}


def test_a_right_password_takes_back_its_reservation(make_store):
    service = make_service(make_store())
    for _ in range(Settings().lockout_threshold + 2):
        service.confirm_password("alice", PASSWORD)  # right every time: never throttled
    assert service.store.event_times("alice", "password_failed", 0) == []
