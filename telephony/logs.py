"""Logging set-up. Every phone number that reaches a log line is masked, as a second
line of defence behind `mask_number` at the call sites: mobiles and landlines, with or
without +86, 0086 or a leading 0, in the message and in a traceback."""
from __future__ import annotations

import logging

from services.privacy import mask_text


class MaskNumbers(logging.Filter):
    """Masks the message (for handlers that keep their own formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class MaskingFormatter(logging.Formatter):
    """Masks the whole formatted record: the message, the traceback (whose exception
    text may quote a number) and the stack."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_text(super().format(record))


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    # the formatter masks the whole line; a MaskNumbers filter here as well masked every
    # message twice, on every line the call loop logs
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # the format names no process or thread: a record need not look them up (a getpid
    # system call and a thread lookup for each line the call loop logs)
    logging.logProcesses = logging.logThreads = logging.logMultiprocessing = False
    # nor the file and line a record came from: finding them walks the caller's frames for
    # every record (1 % of the controller's busy samples under the capacity bench, for
    # nothing this format shows). The logging HOWTO's "Optimization" section names this
    logging._srcfile = None
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("panoramisk", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
