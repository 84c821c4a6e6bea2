"""Local-folder backend: the embedded default for `make run` and fast tests.

URL form: `file:///absolute/path` (percent-decoded, RFC 8089). Relative paths are refused: a
storage root that moves with the working directory loses documents. The app may instead pass
`base_dir` (its instance folder) with the bare URL `file://`; giving both with different paths is
an error rather than a silent choice.

Writes go to a temporary file in the target folder, are fsynced, then `os.replace`d over the key:
readers and a crash see the old object or the new one, never half a file. Temporary files start
with a dot, which valid keys never do, so listings skip them. Content types are not kept here; the
database row holds them, as it does for S3.
"""

from __future__ import annotations

import contextlib
import os
import stat as stat_module
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from .base import (
    CHUNK_SIZE,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ReadableStream,
    Storage,
    StorageError,
    validate_key,
    validate_prefix,
)

_TEMP_PREFIX = ".tmp-"


class LocalStorage(Storage):
    """Objects as files below `root`; keys map to relative paths."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(root)
        if not path.is_absolute():
            raise StorageError(f"local storage root must be an absolute path, got {str(path)!r}")
        self._root = path

    @classmethod
    def from_url(cls, url: str, *, base_dir: str | os.PathLike[str] | None = None) -> LocalStorage:
        """Build from `file:///abs/path`, or from `file://` plus `base_dir`."""
        parts = urlsplit(url)
        if parts.scheme != "file":
            raise StorageError(f"not a file:// URL: {url!r}")
        if parts.netloc not in ("", "localhost"):
            raise StorageError(
                f"file URL must be file:///absolute/path (three slashes), got host "
                f"{parts.netloc!r} in {url!r}"
            )
        if parts.query or parts.fragment:
            raise StorageError(f"file URL takes no query or fragment: {url!r}")
        url_path = unquote(parts.path)
        if base_dir is not None:
            base = Path(base_dir)
            if url_path and Path(url_path) != base:
                raise StorageError(
                    f"storage URL {url!r} and base_dir {str(base)!r} name different folders"
                )
            return cls(base)
        if not url_path:
            raise StorageError("file:// storage URL needs a path (file:///abs/path) or base_dir")
        if not url_path.startswith("/"):
            raise StorageError(f"file storage path must be absolute, got {url_path!r}")
        return cls(url_path)

    @property
    def root(self) -> Path:
        return self._root

    def describe(self) -> str:
        return f"file://{self._root}"

    def _path(self, key: str) -> Path:
        """Map a validated key to its file, refusing anything that resolves outside the root."""
        validate_key(key)
        path = self._root.joinpath(*key.split("/"))
        # The key alphabet already rules out `..`; this also catches a symlink planted inside.
        real_root = os.path.realpath(self._root)
        if not os.path.realpath(path).startswith(real_root + os.sep):
            raise InvalidKey(f"storage key {key!r} resolves outside {self.describe()}")
        return path

    def ensure_bucket(self) -> None:
        try:
            self._root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create storage folder {self._root}: {exc}") from exc

    def put_stream(
        self, key: str, stream: ReadableStream, *, content_type: str, length: int | None = None
    ) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=path.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {key!r} to {self.describe()}: {exc}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                written = self._copy(stream, out, key, length)
                if length is not None and written != length:
                    raise StorageError(
                        f"stream for {key!r} ended after {written} of {length} bytes"
                    )
                with self._io_errors("write", key):
                    out.flush()
                    os.fsync(out.fileno())
            with self._io_errors("write", key):
                os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise
        self._fsync_dir(path.parent)

    def _copy(self, stream: ReadableStream, out: BinaryIO, key: str, length: int | None) -> int:
        """Copy in chunks; errors from `stream` propagate as they are, write errors are wrapped."""
        written = 0
        while length is None or written < length:
            want = CHUNK_SIZE if length is None else min(CHUNK_SIZE, length - written)
            chunk = stream.read(want)
            if not chunk:
                break
            if length is not None:
                chunk = chunk[: length - written]
            with self._io_errors("write", key):
                out.write(chunk)
            written += len(chunk)
        return written

    @contextlib.contextmanager
    def _io_errors(self, operation: str, key: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise StorageError(f"cannot {operation} {key!r} in {self.describe()}: {exc}") from exc

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        """Persist the rename itself; best effort, some platforms cannot open folders."""
        try:
            dir_fd = os.open(directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")  # the caller owns and closes it
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r} in {self.describe()}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {key!r} in {self.describe()}: {exc}") from exc

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise ObjectNotFound(f"no object {key!r} in {self.describe()}") from exc
        except OSError as exc:
            raise StorageError(f"cannot stat {key!r} in {self.describe()}: {exc}") from exc
        if not stat_module.S_ISREG(st.st_mode):
            raise ObjectNotFound(f"no object {key!r} in {self.describe()}")
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            raise StorageError(f"cannot delete {key!r} in {self.describe()}: {exc}") from exc

    def iter_objects(self, prefix: str = "") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        folder, _, _ = prefix.rpartition("/")
        start = self._root.joinpath(*folder.split("/")) if folder else self._root
        yield from self._walk(start, f"{folder}/" if folder else "", prefix)

    def _walk(self, directory: Path | str, base: str, prefix: str) -> Iterator[ObjectInfo]:
        """Depth-first in full-key order (a folder `a` sorts as `a/`), as AWS lists."""
        try:
            with os.scandir(directory) as scan:
                entries = [
                    (entry.name + "/" if entry.is_dir(follow_symlinks=False) else entry.name, entry)
                    for entry in scan
                    if not entry.name.startswith(".")
                ]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise StorageError(f"cannot list {directory}: {exc}") from exc
        for name, entry in sorted(entries, key=lambda pair: pair[0]):
            key = base + name
            if name.endswith("/"):
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk(entry.path, key, prefix)
                continue
            if not key.startswith(prefix):
                continue
            try:
                validate_key(key)
                st = entry.stat(follow_symlinks=False)
            except (InvalidKey, FileNotFoundError):
                continue  # a stray file no key can name, or deleted while listing
            if stat_module.S_ISREG(st.st_mode):
                yield ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, UTC))
