"""Issue 3: a large file through the web upload form into S3, against the SDK's own put_object.

Targets: while the application takes a 100 MB upload, its peak RSS grows by at most 32 MB, and
its throughput is at least 0.7x that of `Minio.put_object` sending the same file from this process
to the same server.

Everything is started here and torn down at the end, even on error: a private SeaweedFS (`weed
mini`) in a temporary directory, a freshly migrated database (SQLite unless `--database-url`
names a PostgreSQL one), an institution with its administrator, and the application itself under
gunicorn in a separate process (one worker, two threads), so that the worker's RSS is the
application's alone. The benchmark then logs in over HTTP like a browser, fetches the upload form
for its CSRF token and idempotency key, and posts the file (generated once on disk) as
multipart/form-data with the file part last; the body is sent with `socket.sendfile`, so this
client never holds the file in memory either. A thread reads the worker's VmRSS from /proc every
20 ms during each upload; VmHWM (the kernel's high-water mark) catches anything between samples.

Figures are medians of `--repeat` runs, the three kinds of upload interleaved. Every web upload
is checked: the document row's SHA-256 is the file's and the stored object has the file's size.

    .venv/bin/python benchmarks/upload.py [--size-mb 100] [--repeat 3] [--database-url URL]

Exit status 0 whether or not the targets are met (the figures are what matter); 1 if something
broke.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import secrets
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.testing_processes import Service, children_of, run_benchmark, wait_for_http  # noqa: E402
from core.testing_processes import start_gunicorn as start_gunicorn_service  # noqa: E402

MiB = 1024 * 1024
PART_SIZE = 5 * MiB  # S3's minimum part size, which the application uses too
BUCKET = "qi-upload-bench"
PASSWORD = "Bench-upload-2026"
RSS_TARGET_MIB = 32
RATIO_TARGET = 0.7
SAMPLE_INTERVAL = 0.02
WARMUP_BYTES = 256 * 1024
STARTUP_TIMEOUT = 60.0


# ---------------------------------------------------------------- the application's memory


def read_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of `pid`, in KiB, from /proc (psutil is not a dependency)."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    return values


def reset_hwm(pid: int) -> bool:
    """Reset the process's VmHWM to its current RSS (Linux: write 5 to clear_refs).

    Without the reset VmHWM would still hold the worker's start-up peak (importing and
    building the app), which is higher than anything an upload adds.
    """
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


class RssSampler:
    """Samples a process's VmRSS every 20 ms in a thread; `peak_kib` is the largest seen.

    VmHWM is reset on entry and read on exit, so a spike between two samples counts too.
    """

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak_kib = read_status(pid)["VmRSS"]
        self.hwm_kib = 0  # 0: the kernel's high-water mark could not be reset
        self._hwm_reset = False
        self.samples = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, read_status(self._pid)["VmRSS"])
            self.samples += 1
            self._stop.wait(SAMPLE_INTERVAL)

    def __enter__(self) -> RssSampler:
        self._hwm_reset = reset_hwm(self._pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        status = read_status(self._pid)
        self.peak_kib = max(self.peak_kib, status["VmRSS"])
        if self._hwm_reset:
            self.hwm_kib = status["VmHWM"]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process (all its threads) has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- a browser, more or less


class FormInputs(HTMLParser):
    """The `<input name=... value=...>` of every form on a page, form by form."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = {"#id": values.get("id", "")}
            self.forms.append(self._current)
        elif tag == "input" and self._current is not None and values.get("name"):
            self._current[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def form_with(html: str, name: str) -> dict[str, str]:
    parser = FormInputs()
    parser.feed(html)
    for form in parser.forms:
        if name in form:
            return form
    raise RuntimeError(f"no form with an input {name!r} on the page")


@dataclass
class Browser:
    host: str
    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def connection(self, timeout: float = 600.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if (morsel["expires"] and "1970" in morsel["expires"]) or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = self.connection(timeout=30.0)
        try:
            all_headers = {"Cookie": self.cookie_header(), **(headers or {})}
            conn.request(method, path, body=body, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            self.keep_cookies(response)
            return response.status, dict(response.headers.items()), data
        finally:
            conn.close()

    def log_in(self, identifier: str, password: str) -> None:
        status, _, page = self.request("GET", "/login")
        if status != 200:
            raise RuntimeError(f"GET /login answered {status}")
        token = form_with(page.decode(), "identifier")["csrf_token"]
        body = urlencode({"csrf_token": token, "identifier": identifier, "password": password})
        status, _, _ = self.request(
            "POST", "/login", body.encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise RuntimeError(f"POST /login answered {status} instead of a redirect")

    def upload_form(self, path: str) -> dict[str, str]:
        status, _, page = self.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        return form_with(page.decode(), "idempotency_key")

    def post_file(self, path: str, fields: list[tuple[str, str]], file_path: Path,
                  filename: str) -> tuple[int, str, float]:
        """Post `fields` then the file, streamed from disk; (status, Location, seconds)."""
        boundary = "----qi-bench-" + secrets.token_hex(12)
        head = bytearray()
        for name, value in fields:
            head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                     f"{value}\r\n").encode()
        head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                 f"filename=\"{filename}\"\r\nContent-Type: application/pdf\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        size = file_path.stat().st_size
        conn = self.connection()
        try:
            started = time.perf_counter()
            conn.putrequest("POST", path)
            conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
            conn.putheader("Content-Length", str(len(head) + size + len(tail)))
            conn.putheader("Cookie", self.cookie_header())
            conn.endheaders()
            assert conn.sock is not None
            try:
                conn.sock.sendall(head)
                with open(file_path, "rb") as stream:
                    conn.sock.sendfile(stream)
                conn.sock.sendall(tail)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the app refused early; its answer says why
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            self.keep_cookies(response)
            return response.status, response.headers.get("Location", ""), elapsed
        finally:
            conn.close()


# ---------------------------------------------------------------- set-up


def make_pdf(path: Path, size: int) -> str:
    """A `size`-byte file a PDF sniffer accepts (header, then random bytes); its SHA-256."""
    digest = hashlib.sha256()
    header = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    with open(path, "wb") as out:
        out.write(header)
        digest.update(header)
        left = size - len(header)
        while left > 0:
            chunk = os.urandom(min(left, MiB))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


def prepare_database(config: dict[str, Any]) -> tuple[Any, int, str]:
    """Migrate, create an institution and its admin; (in-process app, institution id, email)."""
    from core import migrate
    from core.app import create_app
    from core.identity.models import Role
    from core.identity.service import create_user
    from core.institutions.service import create_institution

    migrate.upgrade(config["DATABASE_URL"])
    app = create_app(config)
    email = f"bench-{secrets.token_hex(4)}@example.cn"
    with app.app_context():
        admin = create_user(display_name="上传基准管理员", password=PASSWORD,
                            roles=(Role.INSTITUTION_ADMIN,), email=email)
        institution = create_institution(legal_name=f"基准检测机构 {secrets.token_hex(3)}",
                                         uscc=None, admin=admin)
        institution_id = institution.id
    return app, institution_id, email


def start_gunicorn(env_overrides: dict[str, str], log_path: Path) -> tuple[Service, int]:
    """One worker with two threads, so the worker's RSS is the application's alone; returns the
    server and its worker's pid."""
    server = start_gunicorn_service("gunicorn", {**os.environ, **env_overrides}, log_path,
                                    workers=1, threads=2, extra=["--timeout", "300"])
    try:
        wait_for_http(server, "/login", timeout=STARTUP_TIMEOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while len(workers := children_of(server.process.pid)) != 1:
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn has {len(workers)} workers, not one:\n"
                                   f"{server.log_tail()}")
            time.sleep(0.2)
    except BaseException:
        server.stop()
        raise
    return server, workers[0]


# ---------------------------------------------------------------- the runs


@dataclass
class WebRun:
    seconds: float
    peak_rss_kib: int  # the largest VmRSS sample
    hwm_kib: int  # VmHWM, reset just before the upload; 0 if it could not be reset
    samples: int
    cpu_seconds: float  # the worker's CPU time during the upload


def web_upload(browser: Browser, app: Any, institution_id: int, file_path: Path, sha256: str,
               worker: int, storage_client: Any) -> WebRun:
    """One upload through the form, verified afterwards (row digest and object size)."""
    from sqlalchemy import select

    from core.db import db
    from core.documents.models import Document

    page = f"/institutions/{institution_id}/documents"
    form = browser.upload_form(page)
    # The fields in the form's order, as a browser sends them; the file goes last.
    fields = [("csrf_token", form["csrf_token"]), ("idempotency_key", form["idempotency_key"]),
              ("kind", "equipment_photo"), ("category_code", ""), ("certificate_number", ""),
              ("issuer", ""), ("valid_from", ""), ("valid_to", ""), ("scope", "")]
    cpu_before = cpu_seconds(worker)
    with RssSampler(worker) as sampler:
        status, location, seconds = browser.post_file(page, fields, file_path, "基准文件.pdf")
    cpu = cpu_seconds(worker) - cpu_before
    if status != 302 or urlsplit(location).path != page:
        raise RuntimeError(f"upload answered {status} (Location {location!r}), not a redirect back")
    size = file_path.stat().st_size
    with app.app_context():
        document = db.session.scalar(select(Document).where(
            Document.institution_id == institution_id,
            Document.idempotency_key == form["idempotency_key"]))
        if document is None:
            raise RuntimeError("the upload answered with a redirect but no document row exists")
        if document.sha256 != sha256 or document.size != size:
            raise RuntimeError(f"row says sha256={document.sha256} size={document.size}; "
                               f"the file has sha256={sha256} size={size}")
        key = document.object_key
    stored = storage_client.stat_object(BUCKET, key).size
    if stored != size:
        raise RuntimeError(f"object {key} holds {stored} bytes, the file {size}")
    return WebRun(seconds, sampler.peak_kib, sampler.hwm_kib, sampler.samples, cpu)


def direct_put(client: Any, file_path: Path, *, known_length: bool) -> float:
    """`Minio.put_object` of the file from this process; seconds. The object is removed after."""
    size = file_path.stat().st_size
    key = f"direct/{secrets.token_hex(8)}"
    with open(file_path, "rb") as stream:
        started = time.perf_counter()
        client.put_object(BUCKET, key, stream, length=size if known_length else -1,
                          part_size=PART_SIZE, content_type="application/pdf")
        seconds = time.perf_counter() - started
    stored = client.stat_object(BUCKET, key).size
    if stored != size:
        raise RuntimeError(f"direct put stored {stored} bytes, the file has {size}")
    client.remove_object(BUCKET, key)
    return seconds


def mib(kib: int) -> float:
    return kib / 1024


def run(args: argparse.Namespace, tmp: Path, cleanup: list[Any]) -> None:
    from core.testing_s3 import start_seaweed

    size = args.size_mb * MiB
    print(f"starting SeaweedFS, database and gunicorn in {tmp} …", flush=True)
    server = start_seaweed(tmp / "seaweed")
    cleanup.append(server.stop)
    client = server.client()
    client.make_bucket(BUCKET)

    database_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite'}"
    secret_key = secrets.token_urlsafe(48)
    env = {
        "DATABASE_URL": database_url,
        "STORAGE_URL": server.url_for(BUCKET),
        "SECRET_KEY": secret_key,
        "QI_UPLOAD_MAX_MB": str(max(200, 2 * args.size_mb)),
        "QI_INSTANCE_PATH": str(tmp / "instance"),
        "QI_ENV": "development",
    }
    app, institution_id, email = prepare_database({
        "DATABASE_URL": database_url, "STORAGE_URL": env["STORAGE_URL"],
        "SECRET_KEY": secret_key, "INSTANCE_PATH": env["QI_INSTANCE_PATH"],
        "UPLOAD_MAX_BYTES": int(env["QI_UPLOAD_MAX_MB"]) * MiB,
    })

    big = tmp / "big.pdf"
    sha256 = make_pdf(big, size)
    small = tmp / "small.pdf"
    small_sha256 = make_pdf(small, WARMUP_BYTES)

    app_server, worker = start_gunicorn(env, tmp / "gunicorn.log")
    cleanup.append(app_server.stop)
    try:
        browser = Browser("127.0.0.1", app_server.port)
        browser.log_in(email, PASSWORD)
        # Warm-up: a small upload loads every module, the S3 client and its connection pool.
        web_upload(browser, app, institution_id, small, small_sha256, worker, client)
        direct_put(client, small, known_length=True)
        time.sleep(0.5)
        baseline = read_status(worker)

        web: list[WebRun] = []
        sdk: list[float] = []
        sdk_stream: list[float] = []
        for n in range(args.repeat):
            web.append(web_upload(browser, app, institution_id, big, sha256, worker, client))
            sdk.append(direct_put(client, big, known_length=True))
            sdk_stream.append(direct_put(client, big, known_length=False))
            print(f"  run {n + 1}: web {web[-1].seconds:.2f} s (peak VmRSS sampled "
                  f"{mib(web[-1].peak_rss_kib):.1f} MiB in {web[-1].samples} samples, VmHWM "
                  f"{mib(web[-1].hwm_kib):.1f} MiB), "
                  f"SDK {sdk[-1]:.2f} s, SDK length=-1 {sdk_stream[-1]:.2f} s", flush=True)
    except Exception:
        print(f"gunicorn log tail:\n{app_server.log_tail()}", file=sys.stderr)
        raise

    sampled_peak = max(r.peak_rss_kib for r in web)
    hwm_peak = max(r.hwm_kib for r in web)
    peak = max(sampled_peak, hwm_peak)
    growth = mib(peak - baseline["VmRSS"])
    web_s = statistics.median(r.seconds for r in web)
    sdk_s = statistics.median(sdk)
    stream_s = statistics.median(sdk_stream)
    size_mib = size / MiB
    web_rate, sdk_rate, stream_rate = size_mib / web_s, size_mib / sdk_s, size_mib / stream_s
    ratio = web_rate / sdk_rate

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    database = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    print()
    print(f"Upload of {args.size_mb} MiB, median of {args.repeat}; {os.cpu_count()} cores, "
          f"{database}, SeaweedFS, gunicorn 1 worker x 2 threads")
    print(f"  {'application worker RSS':<44}{'MiB':>10}")
    print(f"  {'baseline VmRSS (after warm-up upload)':<44}{mib(baseline['VmRSS']):>10.1f}")
    print(f"  {'peak VmRSS sampled every 20 ms':<44}{mib(sampled_peak):>10.1f}")
    hwm = f"{mib(hwm_peak):>10.1f}" if hwm_peak else f"{'n/a':>10}   (clear_refs refused)"
    print(f"  {'peak VmHWM (reset before each upload)':<44}{hwm}")
    print(f"  {'growth = peak - baseline VmRSS':<44}{growth:>10.1f}   "
          f"target <= {RSS_TARGET_MIB}: {verdict(growth <= RSS_TARGET_MIB)}")
    print(f"  {'throughput':<44}{'s':>10}{'MiB/s':>10}")
    print(f"  {'web form -> app -> S3':<44}{web_s:>10.2f}{web_rate:>10.1f}")
    print(f"  {'SDK put_object(length=size, 5 MiB parts)':<44}{sdk_s:>10.2f}{sdk_rate:>10.1f}")
    print(f"  {'SDK put_object(length=-1, 5 MiB parts)':<44}{stream_s:>10.2f}{stream_rate:>10.1f}")
    print(f"  {'ratio web / SDK (length=size)':<44}{ratio:>10.2f}   "
          f"target >= {RATIO_TARGET}: {verdict(ratio >= RATIO_TARGET)}")
    print(f"  {'ratio web / SDK (length=-1)':<44}{web_rate / stream_rate:>10.2f}")
    worker_cpu = statistics.median(r.cpu_seconds for r in web)
    print(f"  {'application worker CPU per web upload (s)':<44}{worker_cpu:>10.2f}")
    print(f"  verified: each upload's row has the file's SHA-256 ({sha256[:16]}…) "
          f"and its object {size} bytes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=int, default=100, help="file size in MiB (100)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each upload (3)")
    parser.add_argument("--database-url", default="",
                        help="a scratch PostgreSQL database, migrated here and left with the "
                             "rows the run adds; default a fresh SQLite file")
    args = parser.parse_args(argv)
    if args.size_mb < 1 or args.repeat < 1:
        parser.error("--size-mb and --repeat must be at least 1")
    return run_benchmark(lambda tmp, cleanup: run(args, tmp, cleanup), "qi-upload-bench-")


if __name__ == "__main__":
    sys.exit(main())
