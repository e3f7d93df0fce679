"""The REST API as resources (`vaults`, `documents`, `memories`, `jobs`, `dlq`) and calls
(`search`, `answer`), written once for both clients: each method describes its request as a
`Call` and hands it to the client's `_send`, which the sync client runs at once and the async
client returns as a coroutine to await."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import quote

from ._core import Call, Progress, RetryPolicy, UploadFile, auth_headers, multipart, user_agent
from ._models import Answer, Document, DocumentDetail, Job, Memory, Page, SearchResult, Vault


def _seg(value: Any) -> str:
    """A path segment, escaped."""
    return quote(str(value), safe="")


def _page(key: str, build: Any) -> Any:
    return lambda data: Page([build(x) for x in data.get(key, [])], data.get("next_cursor"))


def _query(query: str, limit: Optional[int], mode: Optional[str], filters: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    body: Dict[str, Any] = {"query": query}
    if limit is not None:
        body["limit"] = limit
    if mode is not None:
        body["mode"] = mode
    if filters:
        body["filters"] = filters
    return body


def _present(**fields: Any) -> Dict[str, Any]:
    """The fields that were given (not None)."""
    return {k: v for k, v in fields.items() if v is not None}


class _Resource:
    def __init__(self, client: Any) -> None:
        self._send = client._send


class Vaults(_Resource):
    """`/v1/vaults`: the vaults the caller sees."""

    def list(self) -> Any:
        """Every vault the caller sees: `List[Vault]`."""
        return self._send(Call("GET", "/v1/vaults", parse=lambda d: [Vault.from_json(v) for v in d]))

    def get(self, vault: str) -> Any:
        """One vault: `Vault`."""
        return self._send(Call("GET", f"/v1/vaults/{_seg(vault)}", parse=Vault.from_json))

    def create(self, name: str) -> Any:
        """Creates an empty vault for uploads and memories: `Vault`."""
        return self._send(Call("POST", "/v1/vaults", json={"name": name}, parse=Vault.from_json))

    def delete(self, vault: str) -> Any:
        """Deletes a vault that is not in the server's configuration, with its content."""
        return self._send(Call("DELETE", f"/v1/vaults/{_seg(vault)}"))

    def status(self, vault: str) -> Any:
        """How fresh the vault is: its sources, recent and failed jobs (a JSON object)."""
        return self._send(Call("GET", f"/v1/vaults/{_seg(vault)}/status"))


class Documents(_Resource):
    """`/v1/vaults/{vault}/documents`: indexed documents and uploads."""

    def list(self, vault: str, cursor: Optional[str] = None, limit: Optional[int] = None) -> Any:
        """One page of documents in id order: `Page[Document]`."""
        params = {"cursor": cursor, "limit": limit}
        path = f"/v1/vaults/{_seg(vault)}/documents"
        return self._send(Call("GET", path, params=params, parse=_page("documents", Document.from_json)))

    def get(self, vault: str, id: int) -> Any:
        """A document with its metadata and chunks: `DocumentDetail`."""
        path = f"/v1/vaults/{_seg(vault)}/documents/{_seg(id)}"
        return self._send(Call("GET", path, parse=DocumentDetail.from_json))

    def delete(self, vault: str, id: int) -> Any:
        """Removes a document from the index."""
        return self._send(Call("DELETE", f"/v1/vaults/{_seg(vault)}/documents/{_seg(id)}"))

    def upload(
        self,
        vault: str,
        files: Sequence[UploadFile],
        format: Optional[str] = None,
        progress: Optional[Progress] = None,
    ) -> Any:
        """Sends files (paths, or `(name, content)` pairs) as one upload; each file's name is
        its uri in the vault's `uploads` source. `progress(sent, total)` is called as the body
        goes out. Answers the queued job: `Job` (wait for it with `jobs.wait`)."""
        if not files:
            raise ValueError("upload needs at least one file")
        body, content_type = multipart(files, format)
        path = f"/v1/vaults/{_seg(vault)}/documents"
        call = Call("POST", path, body=body, content_type=content_type, progress=progress, parse=Job.from_json)
        return self._send(call)

    def add_texts(self, vault: str, documents: Sequence[Dict[str, Any]]) -> Any:
        """Sends documents as JSON (`{"uri", "text", "format"?}` each): the queued `Job`."""
        path = f"/v1/vaults/{_seg(vault)}/documents"
        return self._send(Call("POST", path, json={"documents": list(documents)}, parse=Job.from_json))


class Memories(_Resource):
    """`/v1/vaults/{vault}/memories`: long-term memories of agents and their users."""

    def add(
        self,
        vault: str,
        text: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        tags: Optional[List[str]] = None,
        importance: Optional[float] = None,
        metadata: Optional[Dict[str, Any]] = None,
        expires_at: Optional[str] = None,
    ) -> Any:
        """Stores a memory: the stored `Memory`."""
        body = _present(
            text=text,
            user_id=user_id,
            agent_id=agent_id,
            session_id=session_id,
            tags=tags,
            importance=importance,
            metadata=metadata,
            expires_at=expires_at,
        )
        return self._send(Call("POST", f"/v1/vaults/{_seg(vault)}/memories", json=body, parse=Memory.from_json))

    def get(self, vault: str, id: str) -> Any:
        """One memory: `Memory`."""
        return self._send(Call("GET", f"/v1/vaults/{_seg(vault)}/memories/{_seg(id)}", parse=Memory.from_json))

    def list(
        self,
        vault: str,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        tags: Optional[List[str]] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Any:
        """One page of memories, newest first, within a scope: `Page[Memory]`."""
        params = {
            "user_id": user_id,
            "agent_id": agent_id,
            "session_id": session_id,
            "tag": tags,
            "cursor": cursor,
            "limit": limit,
        }
        path = f"/v1/vaults/{_seg(vault)}/memories"
        return self._send(Call("GET", path, params=params, parse=_page("memories", Memory.from_json)))

    def retrieve(
        self,
        vault: str,
        query: str,
        limit: Optional[int] = None,
        mode: Optional[str] = None,
        user_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        session_id: Optional[str] = None,
        tags: Optional[List[str]] = None,
    ) -> Any:
        """The memories best matching `query` within a scope, best first (each with its
        `score`): `List[Memory]`."""
        body = _present(
            query=query, limit=limit, mode=mode, user_id=user_id, agent_id=agent_id, session_id=session_id, tags=tags
        )
        path = f"/v1/vaults/{_seg(vault)}/memories/retrieve"
        return self._send(Call("POST", path, json=body, parse=lambda d: [Memory.from_json(h) for h in d["hits"]]))

    def update(self, vault: str, id: str, **changes: Any) -> Any:
        """Changes `text`, `tags`, `importance`, `metadata` or `expires_at`: the `Memory`."""
        path = f"/v1/vaults/{_seg(vault)}/memories/{_seg(id)}"
        return self._send(Call("PATCH", path, json=changes, parse=Memory.from_json))

    def delete(self, vault: str, id: str) -> Any:
        """Forgets a memory."""
        return self._send(Call("DELETE", f"/v1/vaults/{_seg(vault)}/memories/{_seg(id)}"))

    def stats(self, vault: str) -> Any:
        """Counts of the vault's memories (a JSON object)."""
        return self._send(Call("GET", f"/v1/vaults/{_seg(vault)}/memories/stats"))


class Jobs(_Resource):
    """`/v1/jobs`: the durable job queue (uploads, syncs, re-embeds)."""

    def list(
        self,
        status: Optional[str] = None,
        kind: Optional[str] = None,
        vault: Optional[str] = None,
        cursor: Optional[str] = None,
        limit: Optional[int] = None,
    ) -> Any:
        """One page of jobs, newest first: `Page[Job]`."""
        params = {"status": status, "kind": kind, "vault": vault, "cursor": cursor, "limit": limit}
        return self._send(Call("GET", "/v1/jobs", params=params, parse=_page("jobs", Job.from_json)))

    def get(self, id: str) -> Any:
        """One job: `Job`."""
        return self._send(Call("GET", f"/v1/jobs/{_seg(id)}", parse=Job.from_json))

    def cancel(self, id: str) -> Any:
        """Cancels a queued job at once, asks a running one to stop: the `Job`."""
        return self._send(Call("POST", f"/v1/jobs/{_seg(id)}/cancel", parse=Job.from_json))


class DeadLetters(_Resource):
    """`/v1/dlq`: jobs that failed for good."""

    def list(
        self, kind: Optional[str] = None, vault: Optional[str] = None, cursor: Optional[str] = None, limit: Optional[int] = None
    ) -> Any:
        """One page of dead jobs, newest first: `Page[Job]`."""
        params = {"kind": kind, "vault": vault, "cursor": cursor, "limit": limit}
        return self._send(Call("GET", "/v1/dlq", params=params, parse=_page("jobs", Job.from_json)))

    def get(self, id: str) -> Any:
        """One dead job: `Job`."""
        return self._send(Call("GET", f"/v1/dlq/{_seg(id)}", parse=Job.from_json))

    def retry(self, id: str) -> Any:
        """Puts a dead job back on the queue with fresh attempts: the queued `Job`."""
        return self._send(Call("POST", f"/v1/dlq/{_seg(id)}/retry", parse=Job.from_json))

    def delete(self, id: str) -> Any:
        """Drops a dead job (and its uploaded files)."""
        return self._send(Call("DELETE", f"/v1/dlq/{_seg(id)}"))


class Api:
    """The calls both clients have; each client class defines `_send(call)`, which runs them."""

    def _attach(self, base_url: str, api_key: Optional[str], token: Optional[str], retries: RetryPolicy) -> Dict[str, str]:
        """Sets up what both clients have; answers the headers every request carries."""
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.vaults = Vaults(self)
        self.documents = Documents(self)
        self.memories = Memories(self)
        self.jobs = Jobs(self)
        self.dlq = DeadLetters(self)
        return {"user-agent": user_agent(), **auth_headers(api_key, token)}

    def search(
        self,
        vault: str,
        query: str,
        limit: Optional[int] = None,
        mode: Optional[str] = None,
        filters: Optional[Dict[str, Any]] = None,
    ) -> Any:
        """Searches a vault's documents (`mode`: hybrid, semantic or keyword; `filters`:
        `source`, `uri_prefix`, `metadata`): `SearchResult`."""
        body = _query(query, limit, mode, filters)
        return self._send(Call("POST", f"/v1/vaults/{_seg(vault)}/search", json=body, parse=SearchResult.from_json))

    def answer(
        self,
        vault: str,
        question: str,
        limit: Optional[int] = None,
        mode: Optional[str] = None,
        filters: Optional[Dict[str, Any]] = None,
    ) -> Any:
        """An answer from the server's chat model, citing the vault's chunks: `Answer`.
        A server without a chat model refuses with code `chat_not_configured`."""
        body = _query(question, limit, mode, filters)
        body["question"] = body.pop("query")
        return self._send(Call("POST", f"/v1/vaults/{_seg(vault)}/answer", json=body, parse=Answer.from_json))

    def me(self) -> Any:
        """Who the caller is (a JSON object)."""
        return self._send(Call("GET", "/v1/auth/me"))

    def logout(self) -> Any:
        """Ends the session this client logged in with."""
        return self._send(Call("POST", "/v1/auth/logout"))

    def ready(self) -> Any:
        """`/ready`: the server's readiness (raises `TroveError` with 503 when not ready)."""
        return self._send(Call("GET", "/ready"))
