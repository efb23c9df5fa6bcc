"""Short, stable reason names for failed requests (they become stats keys and log words)."""

from __future__ import annotations

from scrapy.exceptions import IgnoreRequest
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.error import (
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.python.failure import Failure
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

_REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (TimeoutError, "timeout"),
    (TCPTimedOutError, "timeout"),
    (DNSLookupError, "dns"),
    (ConnectionRefusedError, "connection_refused"),
    (ConnectionLost, "connection_lost"),
    (ResponseNeverReceived, "no_response"),
    (ResponseFailed, "response_failed"),
    (IgnoreRequest, "ignored"),
)


def failure_reason(failure: Failure) -> str:
    """`http_404`, `timeout`, `dns` … for a request failure; the exception class otherwise."""
    if failure.check(HttpError):
        return f"http_{failure.value.response.status}"
    for exc_type, reason in _REASONS:
        if failure.check(exc_type):
            return reason
    name = type(failure.value).__name__
    if "Timeout" in name:
        return "timeout"
    return name.lower() or "unknown"
