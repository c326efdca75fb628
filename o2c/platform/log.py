"""structlog setup: JSON when output is not a terminal, readable console otherwise.

Emails, API keys and card numbers are masked by a processor so no call site can leak them.
"""

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
_SECRET = re.compile(
    r"\b(sk|rk|pk)_(test|live)_[A-Za-z0-9]+|\bSG\.[A-Za-z0-9_.-]+|\bwhsec_[A-Za-z0-9_]+|\bBearer\s+[A-Za-z0-9._~+/=-]+"
)
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def redact(text: str) -> str:
    text = _SECRET.sub("[secret]", text)
    text = _CARD.sub("[card]", text)
    return _EMAIL.sub(r"\1***@\2", text)


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = redact(value)
    return event


class RedactingFilter(logging.Filter):
    """The same masking for standard-library records (the Temporal SDK's own and ``workflow.logger``), whose
    messages can quote refused input: the record is rendered once and its arguments dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=True)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level.upper(), stream=stream, format="%(levelname)s %(name)s %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    # The stripe SDK logs every request and response at INFO with its URL (a customer list query carries
    # the customer's email); our activities log what happened to the charge instead.
    for chatty in ("alembic", "httpx", "httpcore", "stripe"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
