"""Typed models of the server's JSON answers (the schemas of `/openapi.json`). Each is a
frozen dataclass built with `from_json`, which keeps the whole answer in `raw` so fields a
newer server adds are not lost."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Generic, List, Optional, Type, TypeVar

T = TypeVar("T")


M = TypeVar("M", bound="Model")


class Model:
    """What every model shares: `from_json`."""

    @classmethod
    def _nested(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        """The fields that hold other models, built from `data` (none by default)."""
        return {}

    @classmethod
    def from_json(cls: Type[M], data: Dict[str, Any]) -> M:
        """The model of the JSON object `data`: known fields by name (missing optional ones
        take their defaults), nested models built, the whole object kept in `raw`."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        values = {k: v for k, v in data.items() if k in names and k != "raw"}
        values.update(cls._nested(data))
        return cls(**values, raw=data)  # type: ignore[call-arg]


@dataclass(frozen=True)
class Vault(Model):
    """A vault with its counts (`VaultSummary`)."""

    name: str
    documents: int = 0
    chunks: int = 0
    model: Optional[str] = None
    dimension: Optional[int] = None
    configured: bool = False
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class SearchHit(Model):
    """One matching chunk."""

    vault: str
    source: str
    uri: str
    title: str
    text: str
    snippet: str
    score: float
    chunk_id: int
    document_id: int
    chunk_index: int = 0
    heading_path: List[str] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class SearchResult(Model):
    """The answer to one query: its hits, best first, and the mode used."""

    query: str
    mode: str
    hits: List[SearchHit]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def _nested(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        return dict(hits=[SearchHit.from_json(h) for h in data.get("hits", [])])


@dataclass(frozen=True)
class JobError(Model):
    """Why the latest attempt of a job failed."""

    code: str
    message: str
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Job(Model):
    """A queued, running or finished job; `status == "dead"` puts it in the dead-letter queue."""

    id: str
    kind: str
    status: str
    vault: Optional[str] = None
    attempts: int = 0
    max_attempts: int = 0
    created_at: str = ""
    finished_at: Optional[str] = None
    cancel_requested: bool = False
    error: Optional[JobError] = None
    result: Any = None
    progress: Optional[Dict[str, int]] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def finished(self) -> bool:
        """Whether it has left `queued` and `running` for good."""
        return self.status not in ("queued", "running")

    @classmethod
    def _nested(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        error = data.get("error")
        return {"error": JobError.from_json(error) if isinstance(error, dict) else None}


@dataclass(frozen=True)
class Memory(Model):
    """A stored memory; `score` is set on retrieved ones."""

    id: str
    vault: str
    text: str
    user_id: Optional[str] = None
    agent_id: Optional[str] = None
    session_id: Optional[str] = None
    tags: List[str] = field(default_factory=list)
    importance: float = 0.5
    metadata: Any = None
    created_at: str = ""
    updated_at: str = ""
    expires_at: Optional[str] = None
    score: Optional[float] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Document(Model):
    """An indexed document without its chunks (`DocumentSummary`)."""

    id: int
    uri: str
    title: str
    source: str
    chunks: int = 0
    tokens: int = 0
    content_hash: str = ""
    indexed_at: str = ""
    modified_at: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class DocumentDetail(Model):
    """A document with its metadata and its chunks (as JSON objects), in order."""

    document: Document
    metadata: Any
    chunks: List[Dict[str, Any]]
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def _nested(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        return dict(document=Document.from_json(data["document"]))


@dataclass(frozen=True)
class Citation(Model):
    """A chunk an answer may cite as `[n]`."""

    n: int
    uri: str
    title: str
    snippet: str
    chunk_id: int
    document_id: int
    url: Optional[str] = None
    heading_path: List[str] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Answer(Model):
    """An answer written by the server's chat model from a vault's chunks."""

    answer: str
    citations: List[Citation]
    usage: Dict[str, Any]
    retrieval_ms: int
    generation_ms: int
    model: Optional[str] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def _nested(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        return dict(citations=[Citation.from_json(c) for c in data.get("citations", [])])


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass `next_cursor` as `cursor` for the next (None on the last)."""

    items: List[T]
    next_cursor: Optional[str] = None
