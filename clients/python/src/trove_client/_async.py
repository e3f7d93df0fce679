"""`AsyncTrove`, the asyncio client: the same calls as `Trove`, awaited, over an
`httpx.AsyncClient`."""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator, Optional

import httpx

from ._api import Api
from ._core import Call, RetryPolicy, result, retry_after
from ._errors import TroveConnectionError, TroveError
from ._models import Job


async def _aiter(call: Call, body: bytes) -> AsyncIterator[bytes]:
    for piece in call.chunks(body):
        yield piece


class AsyncTrove(Api):
    """The asyncio twin of `Trove`: every call is awaited (`await client.search(...)`)."""

    def __init__(
        self,
        base_url: str,
        api_key: Optional[str] = None,
        token: Optional[str] = None,
        timeout: float = 30.0,
        retries: RetryPolicy = RetryPolicy(),
        transport: Optional[httpx.AsyncBaseTransport] = None,
    ) -> None:
        headers = self._attach(base_url, api_key, token, retries)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)

    @classmethod
    async def login(
        cls, base_url: str, email: str, password: str, organization: Optional[str] = None, **options: Any
    ) -> "AsyncTrove":
        """Logs in (an `sdk` session) and answers a client that sends the session's token."""
        body = {"email": email, "password": password, "client": "sdk", "organization": organization}
        async with cls(base_url, **options) as anonymous:
            answer = await anonymous._send(Call("POST", "/v1/auth/login", json=body))
        return cls(base_url, token=answer["token"], **options)

    async def _send(self, call: Call) -> Any:
        body, headers = call.content()
        attempt = 0
        while True:
            attempt += 1
            content: Any = _aiter(call, body) if body is not None else None
            if body is not None:
                headers["content-length"] = str(len(body))
            try:
                response = await self._http.request(
                    call.method, call.path, params=call.query(), content=content, headers=headers
                )
            except httpx.TimeoutException as e:
                raise TroveConnectionError(f"{call.method} {call.path}: no answer within the time limit ({e})", timeout=True) from e
            except httpx.TransportError as e:
                raise TroveConnectionError(f"{call.method} {call.path}: cannot reach {self.base_url}: {e}") from e
            if response.status_code in (429, 503):
                wait = self.retries.wait(attempt, retry_after(response))
                if wait is not None:
                    await asyncio.sleep(wait)
                    continue
            return result(call, response)

    async def wait(self, job: Any, timeout: float = 300.0, interval: float = 0.2) -> Job:
        """Polls a job until it has finished; answers it (code `timeout` past `timeout` s)."""
        id = job.id if isinstance(job, Job) else str(job)
        deadline = time.monotonic() + timeout
        while True:
            current = await self.jobs.get(id)
            if current.finished:
                return current
            if time.monotonic() > deadline:
                raise TroveError(0, "timeout", f"job {id} is still {current.status} after {timeout} s")
            await asyncio.sleep(interval)

    async def aclose(self) -> None:
        """Closes the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncTrove":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
