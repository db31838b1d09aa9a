"""DH_LOG_FORMAT=json: every log line one JSON object, for log collectors (Loki, CloudWatch, ELK).

Fields: time (ISO 8601, UTC, milliseconds), level, logger, message (the formatted message), round and hospital
when the record carries them (`log.info(..., extra={"round": round_.pk, "hospital": slug})`), and exception
(the formatted traceback) when there is one. Nothing else from the record is written: the same rule as plain
text, which logs no token, password or key material (tests/reliability/test_security.py).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

CONTEXT = ("round", "hospital")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a message argument or context value that JSON cannot hold is written as its str().
        return json.dumps(entry, ensure_ascii=False, default=str)
