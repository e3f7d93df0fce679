"""`Trove`, the blocking client: runs each `Call` over an `httpx.Client`, retrying 429 and 503
answers as its `RetryPolicy` says."""

from __future__ import annotations

import time
from typing import Any, Optional

import httpx

from ._api import Api
from ._core import Call, RetryPolicy, result, retry_after
from ._errors import TroveConnectionError, TroveError
from ._models import Job


class Trove(Api):
    """A client of one Trove server.

    `api_key` is a key from `trove admin create-key` or `POST /v1/keys`; `token` a session
    token (see `Trove.login`) or a signed token. `timeout` is the time limit of each attempt,
    in seconds; `retries` the policy for 429 and 503 answers."""

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        token: Optional[str] = None,
        timeout: float = 30.0,
        retries: RetryPolicy = RetryPolicy(),
        transport: Optional[httpx.BaseTransport] = None,
    ) -> None:
        headers = self._attach(base_url, api_key, token, retries)
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    @classmethod
    def login(
        cls, base_url: str, email: str, password: str, organization: Optional[str] = None, **options: Any
    ) -> "Trove":
        """Logs in with an account's email and password (an `sdk` session) and answers a
        client that sends the session's token."""
        body = {"email": email, "password": password, "client": "sdk", "organization": organization}
        with cls(base_url, **options) as anonymous:
            answer = anonymous._send(Call("POST", "/v1/auth/login", json=body))
        return cls(base_url, token=answer["token"], **options)

    def _send(self, call: Call) -> Any:
        body, headers = call.content()
        attempt = 0
        while True:
            attempt += 1
            content: Any = call.chunks(body) if body is not None else None
            if body is not None:
                headers["content-length"] = str(len(body))
            try:
                response = self._http.request(call.method, call.path, params=call.query(), content=content, headers=headers)
            except httpx.TimeoutException as e:
                raise TroveConnectionError(f"{call.method} {call.path}: no answer within the time limit ({e})", timeout=True) from e
            except httpx.TransportError as e:
                raise TroveConnectionError(f"{call.method} {call.path}: cannot reach {self.base_url}: {e}") from e
            if response.status_code in (429, 503):
                wait = self.retries.wait(attempt, retry_after(response))
                if wait is not None:
                    time.sleep(wait)
                    continue
            return result(call, response)

    def wait(self, job: Any, timeout: float = 300.0, interval: float = 0.2) -> Job:
        """Polls a job (a `Job` or its id) until it has finished; answers it. Raises
        `TroveError` with code `timeout` when it has not finished within `timeout` seconds."""
        id = job.id if isinstance(job, Job) else str(job)
        deadline = time.monotonic() + timeout
        while True:
            current = self.jobs.get(id)
            if current.finished:
                return current
            if time.monotonic() > deadline:
                raise TroveError(0, "timeout", f"job {id} is still {current.status} after {timeout} s")
            time.sleep(interval)

    def close(self) -> None:
        """Closes the connections."""
        self._http.close()

    def __enter__(self) -> "Trove":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
