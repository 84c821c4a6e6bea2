"""A test SMS gateway for processes started by the scale-out tests: `QI_SMS_PROVIDER=file_sms:provider`
with this folder on PYTHONPATH and `QI_TEST_SMS_DIR` naming a directory.

It behaves like a real gateway that deduplicates by request id (the outbox's `delivery_id`): the
first request with an id appends `delivered <id> <pid>` to `sms.log`, any later one with the same
id appends `duplicate <id> <pid>` and is accepted without sending again. The check and the append
happen under an exclusive lock on the file, so concurrent workers cannot both deliver one id.

If the file `delay` exists in the directory, the gateway then takes that many seconds to answer
(after accepting): a worker killed during that sleep never learns the message went out, which is
exactly the case at-least-once delivery plus an idempotent request id must survive.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class FileSmsProvider:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def send_sms(self, phone: str, text: str, *, request_id: str) -> None:
        log = self.directory / "sms.log"
        with open(log, "a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            seen = any(line.split()[:2] == ["delivered", request_id] for line in handle)
            handle.write(f"{'duplicate' if seen else 'delivered'} {request_id} {os.getpid()}\n")
            handle.flush()
            os.fsync(handle.fileno())
        delay = self.directory / "delay"
        if delay.exists():
            time.sleep(float(delay.read_text().strip() or 0))


def provider(config: Mapping[str, Any]) -> FileSmsProvider:
    return FileSmsProvider(Path(os.environ["QI_TEST_SMS_DIR"]))


def read_log(directory: Path) -> list[tuple[str, str]]:
    """(event, request id) for each line of the directory's `sms.log`, in order."""
    path = directory / "sms.log"
    if not path.exists():
        return []
    return [(parts[0], parts[1]) for parts in
            (line.split() for line in path.read_text(encoding="utf-8").splitlines()) if parts]
