"""Errors the client raises: `TroveError` for every answer of the server that is not a
success (carrying Trove's stable `code`), `TroveConnectionError` when no answer came."""

from __future__ import annotations

from typing import Any, Optional


class TroveError(Exception):
    """The server refused or failed a request; `code` is Trove's stable error code
    (e.g. `vault_not_found`, `rate_limited`), `link` its entry in the error reference."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        type: str = "",
        link: str = "",
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(f"{code} (HTTP {status}): {message}")
        self.status = status
        self.code = code
        self.message = message
        self.type = type
        self.link = link
        self.request_id = request_id
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, status: int, body: Any, request_id: Optional[str], retry_after: Optional[float]) -> "TroveError":
        """Reads Trove's `{message, code, type, link}` body; a body of another shape (a proxy's
        page, say) becomes code `http_<status>` with the text as the message."""
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            return cls(
                status,
                body["code"],
                str(body.get("message", "")),
                str(body.get("type", "")),
                str(body.get("link", "")),
                request_id,
                retry_after,
            )
        text = body if isinstance(body, str) else repr(body)
        return cls(status, f"http_{status}", text[:500], "", "", request_id, retry_after)


class TroveConnectionError(Exception):
    """No answer came from the server: it could not be reached, or it did not answer within the
    client's time limit (`timeout` is then true)."""

    def __init__(self, message: str, timeout: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout
