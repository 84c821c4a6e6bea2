"""Upload inspection: type from the bytes, size while streaming, safe names for downloads."""

from __future__ import annotations

import hashlib
import io
import re
import struct
import unicodedata
import zlib
from urllib.parse import unquote

import filetype
import pytest
from werkzeug.http import parse_options_header

from core.storage import (
    EmptyUpload,
    InspectingReader,
    UnsupportedFileType,
    UploadRejected,
    UploadTooLarge,
    content_disposition,
    require_content_type,
    safe_filename,
    sniff_content_type,
)


def minimal_pdf() -> bytes:
    """A complete one-page PDF with a correct cross-reference table."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def minimal_png() -> bytes:
    """A valid 1x1 white PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


JPEG_HEAD = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xdb\x00\x43\x00" + bytes(64)
)
PDF = minimal_pdf()
PNG = minimal_png()


class CountingStream(io.RawIOBase):
    """A stream that records how many bytes were pulled out of it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.pulled = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._data.read(size)
        self.pulled += len(data)
        return data


# --- sniffing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [(PDF, "application/pdf"), (PNG, "image/png"), (JPEG_HEAD, "image/jpeg")],
    ids=["pdf", "png", "jpeg"],
)
def test_real_files_are_recognised(data: bytes, expected: str) -> None:
    assert filetype.guess_mime(data) == expected  # an independent opinion on the fixture
    assert sniff_content_type(data[:2048]) == expected


def test_pdf_header_may_start_anywhere_in_the_first_1024_bytes() -> None:
    assert sniff_content_type(b"\r\n \t" + PDF) == "application/pdf"
    assert sniff_content_type(b"\x00" * 1023 + PDF) == "application/pdf"
    assert sniff_content_type(b"\x00" * 1024 + PDF) is None


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><body><script>alert(1)</script>%PDF-1.4",
        b"<html><head></head>" + PDF,
        b"  <HtMl>%PDF-1.7\n",
        b"<svg onload=alert(1)>%PDF-1.7\n",
        b"%PDF-1.7\n<script>alert(document.cookie)</script>",
        b"%PDF-1.7\n< BODY onload=x>",
        b"MZ\x90\x00\x03\x00\x00\x00"
        + bytes(56)
        + b"This program cannot be run in DOS mode.%PDF-1.4",
        b"MZ" + PDF,
        b"\x7fELF\x02\x01\x01" + bytes(9) + PDF,
        b"#!/bin/sh\n%PDF-1.4\n",
        b"PK\x03\x04" + PDF,
        b"%PDF-",  # marker without a version
        b"%PDF-9.9\n",
        b"%PDF",
        b"GIF89a\x01\x00\x01\x00",
        b"\xff\xd8",  # truncated JPEG marker
        b"\x89PNG\r\n",  # truncated PNG signature
        b"just some text",
        b"",
    ],
    ids=[
        "html-then-pdf",
        "html-prefix",
        "html-mixed-case",
        "svg",
        "pdf-then-script",
        "pdf-then-body",
        "pe-executable",
        "mz-prefix",
        "elf",
        "script",
        "zip",
        "marker-only",
        "bad-version",
        "no-dash",
        "gif",
        "short-jpeg",
        "short-png",
        "text",
        "empty",
    ],
)
def test_non_pdf_content_is_never_called_pdf(data: bytes) -> None:
    assert sniff_content_type(data) is None


def test_a_png_named_pdf_is_a_png_not_a_pdf() -> None:
    assert sniff_content_type(PNG) == "image/png"
    assert sniff_content_type(PNG + PDF) == "image/png"


def test_require_content_type_checks_before_anything_is_consumed() -> None:
    reader = InspectingReader(io.BytesIO(PDF), max_bytes=1_000_000)
    assert require_content_type(reader) == "application/pdf"
    assert reader.read() == PDF  # peeking did not eat the head
    assert reader.sha256_hex == hashlib.sha256(PDF).hexdigest()

    with pytest.raises(EmptyUpload):
        require_content_type(InspectingReader(io.BytesIO(b""), max_bytes=10))
    with pytest.raises(UnsupportedFileType) as html:
        require_content_type(InspectingReader(io.BytesIO(b"<html>%PDF-1.4"), max_bytes=100))
    assert "application/pdf" in html.value.message
    with pytest.raises(UnsupportedFileType):
        require_content_type(
            InspectingReader(io.BytesIO(PNG), max_bytes=10_000), allowed={"application/pdf"}
        )
    assert issubclass(UploadTooLarge, UploadRejected)
    assert issubclass(UnsupportedFileType, UploadRejected)
    assert issubclass(EmptyUpload, UploadRejected)


# --- InspectingReader -----------------------------------------------------------------------------


def test_reader_passes_bytes_through_and_hashes_them() -> None:
    data = PDF + bytes(range(256)) * 1000
    reader = InspectingReader(io.BytesIO(data), max_bytes=len(data))
    out = bytearray()
    for size in [1, 7, 4096, 0, 65536]:
        out += reader.read(size)
    while chunk := reader.read(3000):
        out += chunk
    assert bytes(out) == data
    assert reader.finished
    assert reader.size == len(data)  # exactly the limit is allowed
    assert reader.sha256_hex == hashlib.sha256(data).hexdigest()
    assert reader.head == data[:2048]
    assert reader.read() == b""


def test_reader_read_all_and_short_files() -> None:
    reader = InspectingReader(io.BytesIO(b"tiny"), max_bytes=10)
    assert reader.peek() == b"tiny"
    assert reader.read(2) == b"ti"
    assert reader.read() == b"ny"
    assert reader.head == b"tiny"
    assert reader.sha256_hex == hashlib.sha256(b"tiny").hexdigest()


@pytest.mark.parametrize("chunk", [1, 4096, 65536, 10**9])
def test_reader_stops_as_soon_as_the_limit_is_crossed(chunk: int) -> None:
    limit = 100_000
    source = CountingStream(bytes(5_000_000))
    reader = InspectingReader(source, max_bytes=limit)
    with pytest.raises(UploadTooLarge) as too_large:
        while reader.read(chunk):
            pass
    assert too_large.value.max_bytes == limit
    # It asks for at most one byte beyond the limit, whatever chunk size the caller uses.
    assert source.pulled == limit + 1
    with pytest.raises(UploadTooLarge):
        reader.read(chunk)  # stays refused, and reads nothing more
    assert source.pulled == limit + 1


def test_reader_read_all_stops_at_the_limit_too() -> None:
    source = CountingStream(bytes(3_000_000))
    with pytest.raises(UploadTooLarge):
        InspectingReader(source, max_bytes=1000).read()
    assert source.pulled == 1001


# --- file names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("a\r\nb.pdf", "ab.pdf"),
        ("..\\x.pdf", "x.pdf"),
        ("C:\\Users\\张三\\证书.pdf", "证书.pdf"),
        ("证书.pdf", "证书.pdf"),
        ("tab\there\x7f.pdf", "tabhere.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),  # RLO would display "invoiceexe.pdf"
        ("zero\u200bwidth\ufeff.pdf", "zerowidth.pdf"),
        ("line\u2028sep.pdf", "linesep.pdf"),
        ('a<b>:"c|?*.pdf', "a_b___c___.pdf"),
        ("  many   spaces .pdf  ", "many spaces .pdf"),
        ("e\u0301.pdf", "é.pdf"),  # NFC
        (".bashrc", "bashrc"),
        ("..", "file"),
        ("../", "file"),
        ("\r\n\t\x00", "file"),
        ("", "file"),
    ],
)
def test_safe_filename(raw: str, expected: str) -> None:
    assert safe_filename(raw) == expected
    assert safe_filename(expected) == expected  # stable


@pytest.mark.parametrize("stem", ["a" * 496, "证" * 496, "x" * 199])
def test_safe_filename_keeps_the_extension_when_shortening(stem: str) -> None:
    name = safe_filename(stem + ".pdf")
    assert len(name) <= 200
    assert name.endswith(".pdf")
    assert name.startswith(stem[:10])


def test_safe_filename_leaves_no_dangerous_characters() -> None:
    nasty = "".join(chr(c) for c in range(0, 0x30)) + "\u202e\u2066\u2069\u200f../\\evil.pdf"
    name = safe_filename(nasty)
    assert "/" not in name and "\\" not in name
    assert all(unicodedata.category(ch)[0] != "C" for ch in name)


def decode_filename_star(header: str) -> str:
    match = re.search(r"filename\*=UTF-8''([^;\s]+)", header)
    assert match, header
    return unquote(match.group(1), encoding="utf-8", errors="strict")


@pytest.mark.parametrize(
    ("name", "fallback"),
    [
        ("证书.pdf", "file.pdf"),
        ("营业执照 副本.pdf", "file.pdf"),
        ("检测报告2026.pdf", "2026.pdf"),
        ("Résumé final.pdf", "Resume final.pdf"),
        ("report.pdf", "report.pdf"),
        ('a"b\r\n.pdf', "a_b.pdf"),
        ("../../etc/passwd", "passwd"),
        ("", "file"),
    ],
)
def test_content_disposition(name: str, fallback: str) -> None:
    header = content_disposition(name)
    assert header.isascii()
    assert "\r" not in header and "\n" not in header
    assert header.startswith(f"attachment; filename=\"{fallback}\"; filename*=UTF-8''")
    assert decode_filename_star(header) == safe_filename(name)
    # Werkzeug, like browsers (RFC 6266 §4.3), prefers filename* over the ASCII fallback.
    disposition, params = parse_options_header(header)
    assert disposition == "attachment"
    assert params["filename"] == safe_filename(name)


def test_content_disposition_exact_form_for_a_chinese_name() -> None:
    assert content_disposition("证书.pdf") == (
        "attachment; filename=\"file.pdf\"; filename*=UTF-8''%E8%AF%81%E4%B9%A6.pdf"
    )
