"""Read a multipart/form-data body as it arrives, handing the file part on as a stream.

Werkzeug's form parser spools every file before the view runs. The upload view instead pulls
the body through werkzeug's sans-io decoder: the small fields placed before the file (CSRF token,
kind, number …) are read and checked first, then the file's bytes flow straight from the socket
to object storage in bounded chunks. Nothing holds the whole file, in memory or on disk.
"""

from __future__ import annotations

from flask import abort, current_app, request
from flask_wtf.csrf import validate_csrf
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import (
    Data,
    Epilogue,
    Field,
    File,
    MultipartDecoder,
    NeedData,
)
from wtforms import ValidationError

from core.storage import ReadableStream

READ_SIZE = 256 * 1024
MAX_FIELD_BYTES = 64 * 1024
#: The decoder refuses any `receive_data` that would take its buffer over MAX_FIELD_BYTES (its
#: guard against endless part headers), so each read is handed to it in slices this small; the
#: buffer is drained between slices, leaving at most a boundary's length behind.
FEED_SIZE = MAX_FIELD_BYTES // 2


class StreamingForm:
    """Events of one multipart body, pulled on demand from `stream`."""

    def __init__(self, stream: ReadableStream, content_type: str | None, *, max_parts: int):
        mimetype, options = parse_options_header(content_type or "")
        boundary = options.get("boundary", "")
        if mimetype != "multipart/form-data" or not boundary:
            raise BadRequest("multipart/form-data with a boundary expected")
        self._stream = stream
        self._decoder = MultipartDecoder(boundary.encode(), max_form_memory_size=MAX_FIELD_BYTES,
                                         max_parts=max_parts)
        self._done = False
        self._pending = memoryview(b"")  # read from the stream, not yet fed to the decoder
        self.fields: MultiDict[str, str] = MultiDict()

    def next_event(self):  # type: ignore[no-untyped-def]
        while True:
            try:
                event = self._decoder.next_event()
            except ValueError as exc:  # malformed, or the body ended inside a part
                raise BadRequest("malformed or truncated form body") from exc
            if not isinstance(event, NeedData):
                return event
            if self._done:
                raise BadRequest("the form body ended early")
            if not self._pending:
                data = self._stream.read(READ_SIZE)
                if not data:
                    self._done = True
                    self._decoder.receive_data(None)
                    continue
                self._pending = memoryview(data)
            self._decoder.receive_data(self._pending[:FEED_SIZE])  # type: ignore[arg-type]
            self._pending = self._pending[FEED_SIZE:]

    def read_fields_until_file(self) -> File | None:
        """Collect plain fields into `fields` until a file part starts (returned) or the end."""
        while True:
            event = self.next_event()
            if isinstance(event, Field):
                self._read_field(event.name)
            elif isinstance(event, File):
                return event
            elif isinstance(event, Epilogue):
                return None

    def _read_field(self, name: str) -> None:
        parts = []
        size = 0
        while True:
            event = self.next_event()
            if not isinstance(event, Data):
                raise BadRequest("malformed form field")
            size += len(event.data)
            if size > MAX_FIELD_BYTES:
                raise RequestEntityTooLarge()
            parts.append(event.data)
            if not event.more_data:
                break
        self.fields.add(name, b"".join(parts).decode("utf-8", "replace"))

    def file_stream(self) -> FilePartStream:
        """The bytes of the file part just announced by `read_fields_until_file`."""
        return FilePartStream(self)


class FilePartStream:
    """`read(n)` over one file part: at most one decoder chunk is buffered at a time."""

    def __init__(self, form: StreamingForm):
        self._form = form
        self._buffer = b""
        self._ended = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(READ_SIZE):
                chunks.append(chunk)
            return b"".join(chunks)
        while not self._buffer and not self._ended:
            event = self._form.next_event()
            if not isinstance(event, Data):
                raise BadRequest("malformed file part")
            self._buffer = bytes(event.data)
            self._ended = not event.more_data
        out, self._buffer = self._buffer[:size], self._buffer[size:]
        return out


def read_upload_request() -> tuple[StreamingForm, File | None]:
    """The current request's upload form, read up to its file part, with the CSRF token sent
    before the file checked (400 without it). Every upload page (a view exempt from the global
    CSRF check) starts here; it then streams `form.file_stream()` to storage."""
    form = StreamingForm(request.stream, request.content_type,
                         max_parts=current_app.config["MAX_FORM_PARTS"])
    file_part = form.read_fields_until_file()
    try:
        validate_csrf(form.fields.get("csrf_token", ""))
    except ValidationError:
        abort(400)
    return form, file_part
