"""Plain helpers for the documents tests: realistic Foshan data, real sample files, a
hand-built multipart body. Imported by `conftest.py` and the test modules."""

from __future__ import annotations

import re
import socket
import struct
import uuid
import zlib
from collections.abc import Iterable
from datetime import date

# Realistic Foshan data: USCCs that pass python-stdnum's check digit, and certificate numbers
# in the formats the kinds check.
USCC_TESTING_CO = "91440606MA4UHF0X17"  # 佛山市顺德区某检测技术有限公司
USCC_CERT_CO = "91440600190356523D"  # 佛山某认证有限公司
USCC_PUBLIC_INSTITUTE = "12440600455848786R"  # 佛山市质量计量监督检测中心 (事业单位)
USCC_BAD_CHECK_DIGIT = "91440606MA4UHF0X18"
CMA_NUMBER = "201919123456"
CMA_NUMBER_2 = "202019004321"
CNAS_NUMBER = "CNAS L1234"
CNCA_NUMBER = "CNCA-R-2021-123"
LICENCE_ISSUER = "佛山市顺德区市场监督管理局"
CMA_ISSUER = "广东省市场监督管理局"
CNAS_ISSUER = "中国合格评定国家认可委员会"

FIELD_ORDER = ("csrf_token", "idempotency_key", "kind", "category_code", "certificate_number",
               "issuer", "valid_from", "valid_to", "long_term", "scope")
CSRF_INPUT_RE = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
VALUE_RE = re.compile(r'value="([^"]+)"')


# ------------------------------------------------------------------ sample files


def pdf_bytes(text: str = "Certificate", *, padding: int = 0) -> bytes:
    """A real one-page PDF 1.4 (catalog, pages, page, content stream, font, xref, trailer);
    `padding` adds an embedded stream of that many bytes to make the file larger."""
    content = f"BT /F1 18 Tf 72 770 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if padding:
        filler = (b"0123456789abcdef" * (padding // 16 + 1))[:padding]
        objects.append(b"<< /Length %d >>\nstream\n" % len(filler) + filler + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def png_bytes(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A real RGB PNG: signature, IHDR, one zlib-compressed IDAT, IEND, each with its CRC."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


def jpeg_bytes() -> bytes:
    """SOI, a JFIF APP0 segment, a comment, EOI: a header-valid JPEG for the sniffer."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    comment = "设备照片".encode()
    return (b"\xff\xd8"
            + b"\xff\xe0" + struct.pack(">H", len(app0) + 2) + app0
            + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment
            + b"\xff\xd9")


def closed_port() -> int:
    """A TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]



def _iso(value: date | str | None) -> str | None:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else value


def multipart_body(
    fields: Iterable[tuple[str, str]], file: tuple[str, str, bytes, str] | None, *,
    file_first: bool = False, boundary: str | None = None,
) -> tuple[bytes, str]:
    """A multipart/form-data body built by hand, so the order of the parts is exactly ours.

    The file name goes into the header as raw UTF-8, as browsers send it.
    """
    boundary = boundary or f"----QiFormBoundary{uuid.uuid4().hex}"
    field_parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        + value.encode() + b"\r\n"
        for name, value in fields
    ]
    parts = field_parts
    if file is not None:
        name, filename, data, content_type = file
        file_part = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                     f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n').encode()
        file_part += data + b"\r\n"
        parts = [file_part, *field_parts] if file_first else [*field_parts, file_part]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
