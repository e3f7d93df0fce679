"""Retry helper used by our services: exponential backoff with full jitter."""

import random
import time


def retry(call, attempts=5, base=0.2, cap=10.0):
    """Calls `call` until it succeeds, sleeping base * 2^n seconds (with jitter) between tries."""
    for attempt in range(attempts):
        try:
            return call()
        except TimeoutError:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(0, min(cap, base * 2 ** attempt)))
