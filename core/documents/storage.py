"""The app's object store: built from STORAGE_URL by the app factory, bucket ensured on first use."""

from __future__ import annotations

import threading

from flask import Flask, current_app

from core.storage import Storage, open_storage

_KEY = "qi.storage"
_lock = threading.Lock()


def init_app(app: Flask) -> None:
    # No I/O here: the bucket is created on first use, so `create_app` works offline.
    app.extensions[_KEY] = {"storage": open_storage(app.config["STORAGE_URL"]), "ready": False}


def get_storage(app: Flask | None = None) -> Storage:
    state = (app or current_app).extensions[_KEY]
    if not state["ready"]:
        with _lock:
            if not state["ready"]:
                state["storage"].ensure_bucket()
                state["ready"] = True
    return state["storage"]
