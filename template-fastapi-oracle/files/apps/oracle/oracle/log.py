"""One JSON object per line on stdout: Docker's log driver keeps lines whole and any shipper parses
them without guessing a format. The api and the oracle carry identical copies of this module."""
from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOG_LEVELS = ("debug", "info", "warn", "error")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": "warn" if record.levelno == logging.WARNING else record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        # Fields passed as log.info("...", extra={...}).
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["err"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def level_of(name: str) -> int:
    return {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}[name]


def configure_logging(level: str) -> None:
    """JSON lines on stdout for the root logger; idempotent (gunicorn workers and reloads call it again)."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, "_json_stdout", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        handler._json_stdout = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level_of(level))
