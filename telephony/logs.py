"""Logging set-up. A filter masks any mobile number that reaches a log line,
as a second line of defence behind `mask_number` at the call sites."""
from __future__ import annotations

import logging
import re

from services.privacy import mask_number

_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


class MaskNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _MOBILE.sub(lambda m: mask_number(m.group(0)), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(MaskNumbers())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("panoramisk", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
