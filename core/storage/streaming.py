"""Inspecting uploads while they stream, and naming downloads safely.

Used by the web upload form and by the confirmation step of presigned uploads. The rules come
from SECURITY.md 1-3: the type is decided from the bytes, never from the file name or the
client's Content-Type; the size is counted while streaming, so an over-size upload stops as soon
as it crosses the limit instead of after it has been read to the end; and the client's file name
is only ever displayed or offered back as a download name, cleaned, never used as a path.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Collection
from urllib.parse import quote

from .base import CHUNK_SIZE, ReadableStream

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
#: The types institutions may upload (certificates, licences, photos of equipment).
ALLOWED_CONTENT_TYPES: frozenset[str] = frozenset({PDF, JPEG, PNG})

#: Bytes kept from the start of an upload for sniffing; covers the 1,024-byte PDF header window.
HEAD_SIZE = 2048
#: Longest file name kept, in characters, extension included.
MAX_FILENAME_LENGTH = 200

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SIGNATURE = b"\xff\xd8\xff"
_PDF_MARKER = b"%PDF-"
_PDF_HEADER = re.compile(rb"%PDF-[12]\.[0-9]")
# Windows PE, ELF, scripts, Mach-O (32/64-bit, both byte orders), fat binaries/Java, ZIP/JAR.
_EXECUTABLE_MAGIC = (
    b"MZ",
    b"\x7fELF",
    b"#!",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"PK\x03\x04",
)
_MARKUP = re.compile(rb"<\s*(?:!doctype|html|head|body|script|iframe|svg|object|embed)\b", re.I)

# Characters Windows refuses in names, or that confuse shells and quoting; replaced by `_`.
_RESERVED = re.compile(r'[<>:"|?*]')
_SPACES = re.compile(r"\s+")
# Cc controls (\t \r \n NUL DEL ...), Cf format (bidi overrides U+202E, U+2066-2069, zero-width
# chars, BOM), Cs surrogates, Co private use, Cn unassigned, Zl/Zp line and paragraph separators.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_ASCII_FALLBACK_UNSAFE = re.compile(r"[^A-Za-z0-9._ ()+-]")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,16}$")


class UploadRejected(Exception):
    """The upload is refused; `message` is fit to show the user (after translation)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UploadTooLarge(UploadRejected):
    """More than `max_bytes` arrived; reading stopped right there."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"file is larger than the limit of {max_bytes} bytes")
        self.max_bytes = max_bytes


class UnsupportedFileType(UploadRejected):
    """The bytes are not one of the accepted types, whatever the file name says."""

    def __init__(self, allowed: Collection[str]) -> None:
        super().__init__(f"file content must be one of: {', '.join(sorted(allowed))}")
        self.allowed = frozenset(allowed)


class EmptyUpload(UploadRejected):
    """Zero bytes arrived."""

    def __init__(self) -> None:
        super().__init__("file is empty")


def sniff_content_type(head: bytes) -> str | None:
    """The type the leading bytes prove, among PDF, JPEG and PNG; None for anything else.

    A PDF reader accepts `%PDF-` anywhere in the first 1,024 bytes, which is what polyglot files
    exploit: HTML or an executable with a PDF header further in. So the header must start within
    that window, nothing before it may be markup or an executable signature, and the window
    must hold no HTML that a browser could be talked into rendering.
    """
    if head.startswith(_PNG_SIGNATURE):
        return PNG
    if head.startswith(_JPEG_SIGNATURE):
        return JPEG
    if _is_pdf(head):
        return PDF
    return None


def _is_pdf(head: bytes) -> bool:
    start = head.find(_PDF_MARKER, 0, 1024 + len(_PDF_MARKER) - 1)
    if start < 0 or not _PDF_HEADER.match(head, start):
        return False
    preamble = head[:start]
    if b"<" in preamble or head.startswith(_EXECUTABLE_MAGIC):
        return False
    return _MARKUP.search(head, 0, 1024) is None


class InspectingReader:
    """Wraps an upload stream: hashes, counts and keeps the head of what passes through.

    `read` raises `UploadTooLarge` the moment more than `max_bytes` have arrived. It never asks
    the wrapped stream for more than one byte beyond the limit, so an attacker's 10 GB body costs
    at most `max_bytes + 1` bytes of reading here. Like a raw stream, `read(n)` may return fewer
    than `n` bytes; `b""` means the end.
    """

    def __init__(
        self, stream: ReadableStream, *, max_bytes: int, head_size: int = HEAD_SIZE
    ) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self._stream = stream
        self._max_bytes = max_bytes
        self._head_size = head_size
        self._hash = hashlib.sha256()
        self._size = 0
        self._head = bytearray()
        self._pending = b""  # bytes pulled by peek() and not yet handed out
        self._eof = False
        self._exceeded = False

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def size(self) -> int:
        """Bytes pulled from the wrapped stream so far."""
        return self._size

    @property
    def sha256_hex(self) -> str:
        """SHA-256 of the bytes pulled so far; the file's digest once `finished`."""
        return self._hash.hexdigest()

    @property
    def head(self) -> bytes:
        """The first `head_size` bytes (fewer if the upload is shorter)."""
        return bytes(self._head)

    @property
    def finished(self) -> bool:
        """Whether the wrapped stream has reached its end."""
        return self._eof

    def readable(self) -> bool:
        return True

    def peek(self) -> bytes:
        """Pull the head without consuming it, so the type can be checked before storing."""
        chunks = [self._pending]
        while len(self._head) < self._head_size and not self._eof:
            chunks.append(self._pull(self._head_size - len(self._head)))
        self._pending = b"".join(chunks)
        return self.head

    def read(self, size: int | None = -1) -> bytes:
        if self._exceeded:
            raise UploadTooLarge(self._max_bytes)
        if size == 0:
            return b""
        if size is None or size < 0:
            chunks = [self._take_pending(-1)]
            while chunk := self._pull(CHUNK_SIZE):
                chunks.append(chunk)
            return b"".join(chunks)
        if self._pending:
            return self._take_pending(size)
        return self._pull(size)

    def _take_pending(self, size: int) -> bytes:
        if size < 0:
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def _pull(self, size: int) -> bytes:
        if self._eof:
            return b""
        # One byte beyond the limit is enough to know it was crossed.
        data = self._stream.read(min(size, self._max_bytes - self._size + 1))
        if not data:
            self._eof = True
            return b""
        self._size += len(data)
        self._hash.update(data)
        if len(self._head) < self._head_size:
            self._head += data[: self._head_size - len(self._head)]
        if self._size > self._max_bytes:
            self._exceeded = True
            raise UploadTooLarge(self._max_bytes)
        return data


def require_content_type(
    reader: InspectingReader, allowed: Collection[str] = ALLOWED_CONTENT_TYPES
) -> str:
    """Sniff the reader's head; return the type or raise `EmptyUpload`/`UnsupportedFileType`.

    Call it before `Storage.put_stream(key, reader, ...)`: a refused file is never stored.
    """
    head = reader.peek()
    if not head:
        raise EmptyUpload()
    content_type = sniff_content_type(head)
    if content_type is None or content_type not in allowed:
        raise UnsupportedFileType(allowed)
    return content_type


def safe_filename(name: str) -> str:
    """A display and download name made from a client's file name; never use it as a path.

    Keeps only the last path component (`/` and `\\` both count), drops control, format and
    bidi characters (a U+202E can make `exe.pdf` read `fdp.exe`), folds whitespace, replaces
    characters Windows refuses, trims dots and spaces at the ends and keeps at most 200
    characters with the extension intact. Returns `"file"` when nothing is left.
    """
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = _SPACES.sub(" ", name)
    name = _RESERVED.sub("_", name)
    name = name.strip(" .")
    if not name:
        return "file"
    if len(name) > MAX_FILENAME_LENGTH:
        match = _EXTENSION.search(name)
        extension = match.group(0) if match else ""
        stem = name[: len(name) - len(extension)]
        name = stem[: MAX_FILENAME_LENGTH - len(extension)].rstrip(" .") + extension
    return name or "file"


def content_disposition(filename: str) -> str:
    """An RFC 6266 `attachment` header value carrying the name in UTF-8 and an ASCII fallback.

    Browsers use `filename*` (RFC 8187, so `证书.pdf` survives); `filename` is for old clients
    and only ever holds safe ASCII, so no quoting rules can be broken by a user's name.
    """
    name = safe_filename(filename)
    match = _EXTENSION.search(name)
    extension = match.group(0) if match else ""
    stem = name[: len(name) - len(extension)]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    ascii_stem = _ASCII_FALLBACK_UNSAFE.sub("_", ascii_stem).strip(" ._")
    fallback = (ascii_stem or "file") + extension
    encoded = quote(name, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
