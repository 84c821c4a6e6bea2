"""Password hashing (Argon2id) and the password policy (SECURITY.md 5).

One Argon2id hash at the production cost takes both cores of a small machine for about 0.15 s.
A burst of logins, each hashing in its own request thread, would take every core and leave the
other requests waiting (benchmarks/README.md, "Logins under a burst"), so hashes run in slots:
at most `PASSWORD_HASH_CONCURRENCY` at once per process. A request that finds no free slot within
`PASSWORD_HASH_WAIT_MS` is refused at once with `ServiceBusy` (503, `Retry-After`) instead of
queueing without end; nothing was checked, so nothing is counted against the account.
"""

from __future__ import annotations

import os
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from flask_babel import gettext as _

from core.errors import ServiceBusy

# A short list of the passwords tried first by every credential-stuffing run, plus the ones
# that Chinese leak analyses rank highest. Compared case-insensitively.
COMMON_PASSWORDS = frozenset(
    """
    123456 12345678 123456789 1234567890 password password1 password123 qwerty qwerty123
    qwertyuiop 1q2w3e4r 1qaz2wsx 1qaz@wsx abc123 abc12345 abcd1234 aa123456 a1234567 a12345678
    iloveyou admin admin123 admin@123 root123 welcome welcome1 letmein 11111111 00000000
    88888888 66666666 12341234 123123123 5201314 woaini1314 woaini520 zxcvbnm zxcvbnm123
    asdfghjkl p@ssw0rd passw0rd p@ssword test1234 changeme qi123456 foshan123
    """.split()  # noqa: SIM905 (a word list reads better as text)
)

_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits)


@lru_cache(maxsize=4)
def _hasher_for(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=2)


def _hasher() -> PasswordHasher:
    """Argon2id; the defaults follow RFC 9106's low-memory profile (t=3, m=64 MiB). Tests lower
    the cost through the app config (PASSWORD_HASH_TIME_COST, PASSWORD_HASH_MEMORY_KIB)."""
    time_cost, memory_kib = 3, 64 * 1024
    if has_app_context():
        time_cost = current_app.config.get("PASSWORD_HASH_TIME_COST", time_cost)
        memory_kib = current_app.config.get("PASSWORD_HASH_MEMORY_KIB", memory_kib)
    return _hasher_for(time_cost, memory_kib)


BUSY_RETRY_AFTER_SECONDS = 2
_slots_lock = threading.Lock()
_slots: dict[tuple[int, int], threading.BoundedSemaphore] = {}


def _semaphore(concurrency: int) -> threading.BoundedSemaphore:
    key = (os.getpid(), concurrency)  # a fork starts with free slots of its own
    with _slots_lock:
        semaphore = _slots.get(key)
        if semaphore is None:
            semaphore = _slots[key] = threading.BoundedSemaphore(concurrency)
        return semaphore


@contextmanager
def hashing_slot() -> Iterator[None]:
    """Hold one of the process's hashing slots, or raise `ServiceBusy` when none frees in time.
    Outside an app (scripts, the CLI) there is no bound."""
    concurrency = int(current_app.config.get("PASSWORD_HASH_CONCURRENCY", 0)) if has_app_context() else 0
    if concurrency <= 0:
        yield
        return
    semaphore = _semaphore(concurrency)
    if not semaphore.acquire(timeout=int(current_app.config["PASSWORD_HASH_WAIT_MS"]) / 1000):
        from core import ratelimit
        from core.observability import metrics

        metrics.record_refusal(current_app, "busy", "password_hash")
        ratelimit.note_retry_after(BUSY_RETRY_AFTER_SECONDS)
        raise ServiceBusy(_("The server is busy. Try again in %(n)d seconds.",
                            n=BUSY_RETRY_AFTER_SECONDS), retry_after=BUSY_RETRY_AFTER_SECONDS)
    try:
        yield
    finally:
        semaphore.release()


def hash_password(password: str) -> str:
    with hashing_slot():
        return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    with hashing_slot():
        try:
            return _hasher().verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def dummy_hash() -> str:
    """A hash to verify against when the account does not exist, so both paths take as long."""
    return _dummy_hash(_hasher())


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    with hashing_slot():
        return hasher.hash("not-a-real-password-§")


def character_classes(password: str) -> int:
    """Lower case, upper case, digits, and everything else (symbols, Chinese …) each count once."""
    classes = sum(any(c in cls for c in password) for cls in _CLASSES)
    if any(not any(c in cls for cls in _CLASSES) for c in password):
        classes += 1
    return classes


def password_problems(password: str, *, min_length: int, min_classes: int) -> list[str]:
    """Policy violations as error codes; empty when the password is acceptable."""
    problems = []
    if len(password) < min_length:
        problems.append("PASSWORD_TOO_SHORT")
    if len(password) > 128:
        problems.append("PASSWORD_TOO_LONG")
    if character_classes(password) < min_classes:
        problems.append("PASSWORD_TOO_SIMPLE")
    if password.lower() in COMMON_PASSWORDS:
        problems.append("PASSWORD_TOO_COMMON")
    return problems
