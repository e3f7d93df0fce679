"""What the sync and async clients share: a request described as a `Call`, the retry policy
(429 and 503 retried, honouring `Retry-After`, else exponential backoff with jitter), the
reading of answers into models or `TroveError`, and multipart bodies for uploads."""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import httpx

from ._errors import TroveError

#: `progress(sent_bytes, total_bytes)`, called as an upload's body is sent.
Progress = Callable[[int, int], None]

#: One file of an upload: a path, or `(file_name, content)`.
UploadFile = Union[str, "os.PathLike[str]", Tuple[str, Union[bytes, str]]]

#: The statuses retried: the rate limit and a server that is starting, draining or overloaded.
RETRIED = (429, 503)

CHUNK = 64 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a 429 or 503 answer: up to `attempts` tries in all,
    waiting `Retry-After` when the server sends it, else `base * 2**n` seconds (with jitter,
    at most `max_backoff`). A `Retry-After` longer than `max_wait` is not waited for: the
    error is raised at once, carrying `retry_after`."""

    attempts: int = 4
    base: float = 0.25
    max_backoff: float = 8.0
    max_wait: float = 60.0

    def wait(self, attempt: int, retry_after: Optional[float]) -> Optional[float]:
        """Seconds to wait before try `attempt + 1` (from 1), or None to give up."""
        if attempt >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        backoff = min(self.max_backoff, self.base * (2 ** (attempt - 1)))
        return backoff * (0.5 + random.random() / 2)


NO_RETRIES = RetryPolicy(attempts=1)


@dataclass
class Call:
    """One API request and how to read its answer: `parse` turns the JSON body into the
    result (None for answers without a body)."""

    method: str
    path: str
    params: Optional[Dict[str, Any]] = None
    json: Any = None
    body: Optional[bytes] = None
    content_type: Optional[str] = None
    progress: Optional[Progress] = None
    parse: Optional[Callable[[Any], Any]] = None
    headers: Dict[str, str] = field(default_factory=dict)

    def query(self) -> Optional[List[Tuple[str, str]]]:
        """The query string: None values dropped, lists repeated, booleans as `true`/`false`."""
        if not self.params:
            return None
        pairs: List[Tuple[str, str]] = []
        for k, v in self.params.items():
            for item in v if isinstance(v, (list, tuple)) else [v]:
                if item is None:
                    continue
                pairs.append((k, ("true" if item else "false") if isinstance(item, bool) else str(item)))
        return pairs

    def content(self) -> Tuple[Optional[bytes], Dict[str, str]]:
        """The body's bytes and the headers that describe it."""
        headers = dict(self.headers)
        if self.body is not None:
            headers["content-type"] = self.content_type or "application/octet-stream"
            return self.body, headers
        if self.json is not None:
            headers["content-type"] = "application/json"
            return json.dumps(self.json).encode(), headers
        return None, headers

    def chunks(self, body: bytes) -> Iterator[bytes]:
        """The body in pieces, reporting each one sent to `progress`."""
        total = len(body)
        sent = 0
        if self.progress:
            self.progress(0, total)
        while sent < total:
            piece = body[sent : sent + CHUNK]
            yield piece
            sent += len(piece)
            if self.progress:
                self.progress(sent, total)


def retry_after(response: httpx.Response) -> Optional[float]:
    """`Retry-After` in seconds, whether given as seconds or as an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def result(call: Call, response: httpx.Response) -> Any:
    """The parsed result of a successful answer; a `TroveError` for any other."""
    if response.status_code >= 400:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        raise TroveError.from_response(
            response.status_code, body, response.headers.get("x-request-id"), retry_after(response)
        )
    if response.status_code == 204 or not response.content:
        return None
    data = response.json()
    return call.parse(data) if call.parse else data


def multipart(files: Sequence[UploadFile], format: Optional[str]) -> Tuple[bytes, str]:
    """A `multipart/form-data` body of `files` (a `format` part first when given) and its
    content type. Built in memory so its length is known and progress can be reported."""
    boundary = "trove-" + uuid.uuid4().hex
    out = bytearray()

    def part(disposition: str, content: bytes, content_type: Optional[str] = None) -> None:
        out.extend(f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n".encode())
        if content_type:
            out.extend(f"Content-Type: {content_type}\r\n".encode())
        out.extend(b"\r\n")
        out.extend(content)
        out.extend(b"\r\n")

    if format:
        part('name="format"', format.encode())
    for f in files:
        if isinstance(f, tuple):
            name, content = f
            data = content.encode() if isinstance(content, str) else bytes(content)
        else:
            name = os.path.basename(os.fspath(f))
            with open(f, "rb") as fh:
                data = fh.read()
        quoted = name.replace("\\", "\\\\").replace('"', '\\"')
        part(f'name="file"; filename="{quoted}"', data, "application/octet-stream")
    out.extend(f"--{boundary}--\r\n".encode())
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def auth_headers(api_key: Optional[str], token: Optional[str]) -> Dict[str, str]:
    """`Authorization: Bearer` with the API key, session token or signed token given."""
    secret = api_key or token
    return {"authorization": f"Bearer {secret}"} if secret else {}


def user_agent() -> str:
    from . import __version__

    return f"trove-client-python/{__version__}"
