"""LangChain over Trove: `TroveRetriever` (a vault's search as a retriever),
`TroveVectorStore` (texts stored as documents of a vault, embedded by the server) and
`TroveMemoryRetriever` (an agent's long-term memories, scoped to a user, as a retriever;
`remember` stores new ones). Each works with a blocking `trove_client.Trove`; the retrievers
also run asynchronously when given an `AsyncTrove` as `async_client`."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.vectorstores import VectorStore
from trove_client import AsyncTrove, Memory, Trove, TroveError
from trove_client.texts import as_documents, document_ids, hit_metadata, with_metadata

__all__ = ["TroveMemoryRetriever", "TroveRetriever", "TroveVectorStore"]


def _filters(filter: Optional[Dict[str, Any]], source: Optional[str] = None) -> Optional[Dict[str, Any]]:
    out: Dict[str, Any] = {}
    if filter:
        out["metadata"] = filter
    if source:
        out["source"] = source
    return out or None


class TroveRetriever(BaseRetriever):
    """The best chunks of a vault for a query, as LangChain documents (text: the chunk;
    metadata: `trove_uri`, `trove_title`, `trove_score`, ... and, with
    `with_document_metadata`, the document's own metadata)."""

    client: Any
    vault: str
    k: int = 4
    mode: Optional[str] = None
    filters: Optional[Dict[str, Any]] = None
    with_document_metadata: bool = False
    async_client: Any = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> List[Document]:
        result = self.client.search(self.vault, query, limit=self.k, mode=self.mode, filters=self.filters)
        if self.with_document_metadata:
            pairs = with_metadata(self.client, self.vault, result.hits)
        else:
            pairs = [(h, hit_metadata(h, {})) for h in result.hits]
        return [Document(page_content=hit.text, metadata=meta) for hit, meta in pairs]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> List[Document]:
        if not isinstance(self.async_client, AsyncTrove):
            return await super()._aget_relevant_documents(query, run_manager=run_manager)
        result = await self.async_client.search(self.vault, query, limit=self.k, mode=self.mode, filters=self.filters)
        return [Document(page_content=h.text, metadata=hit_metadata(h, {})) for h in result.hits]


class TroveMemoryRetriever(BaseRetriever):
    """An agent's long-term memories as a retriever: the memories of `user_id` (and, when set,
    `agent_id`) best matching the query. `remember` stores one."""

    client: Any
    vault: str
    user_id: Optional[str] = None
    agent_id: Optional[str] = None
    session_id: Optional[str] = None
    k: int = 5
    async_client: Any = None

    def _scope(self) -> Dict[str, Any]:
        return {"user_id": self.user_id, "agent_id": self.agent_id, "session_id": self.session_id}

    @staticmethod
    def _document(m: Memory) -> Document:
        meta = {"memory_id": m.id, "score": m.score, "tags": list(m.tags), "user_id": m.user_id, "created_at": m.created_at}
        return Document(page_content=m.text, metadata=meta)

    def remember(self, text: str, tags: Optional[List[str]] = None, importance: Optional[float] = None) -> Memory:
        """Stores a memory in this retriever's scope."""
        return self.client.memories.add(self.vault, text, tags=tags, importance=importance, **self._scope())

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> List[Document]:
        hits = self.client.memories.retrieve(self.vault, query, limit=self.k, **self._scope())
        return [self._document(m) for m in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> List[Document]:
        if not isinstance(self.async_client, AsyncTrove):
            return await super()._aget_relevant_documents(query, run_manager=run_manager)
        hits = await self.async_client.memories.retrieve(self.vault, query, limit=self.k, **self._scope())
        return [self._document(m) for m in hits]


class TroveVectorStore(VectorStore):
    """A vault as a LangChain vector store. The server embeds (with the vault's model), so no
    `Embeddings` is needed; each text becomes a Markdown document of the vault's `uploads`
    source whose front matter is its metadata, with its id as uri. `filter` in searches
    matches metadata values. Adding waits for the upload job (`wait_s`)."""

    def __init__(self, client: Trove, vault: str, mode: Optional[str] = None, wait_s: float = 300.0) -> None:
        self.client = client
        self.vault = vault
        self.mode = mode
        self.wait_s = wait_s

    @property
    def embeddings(self) -> Optional[Embeddings]:
        return None

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: Optional[List[dict]] = None,
        *,
        ids: Optional[List[str]] = None,
        **kwargs: Any,
    ) -> List[str]:
        """Uploads the texts and waits until they are indexed; answers their ids (uris). An
        upload that fails raises `TroveError` with the job's error code."""
        documents = as_documents(texts, metadatas, ids)
        if not documents:
            return []
        job = self.client.wait(self.client.documents.add_texts(self.vault, documents), timeout=self.wait_s)
        if job.status != "succeeded":
            code = job.error.code if job.error else job.status
            raise TroveError(0, code, f"the upload job {job.id} ended {job.status}: {job.error.message if job.error else ''}")
        return [d["uri"] for d in documents]

    def delete(self, ids: Optional[List[str]] = None, **kwargs: Any) -> Optional[bool]:
        """Deletes the documents with these ids (uris); false when one was not found."""
        if not ids:
            return False
        wanted = set(ids)
        found = document_ids(self.client, self.vault, lambda uri: uri in wanted)
        for id in found.values():
            self.client.documents.delete(self.vault, id)
        return len(found) == len(wanted)

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: Optional[Dict[str, Any]] = None, **kwargs: Any
    ) -> List[Tuple[Document, float]]:
        """The `k` best chunks with their scores (higher is better) and their documents'
        metadata; `filter` keeps documents whose metadata has these values."""
        result = self.client.search(self.vault, query, limit=k, mode=self.mode, filters=_filters(filter, kwargs.get("source")))
        out = []
        for hit, meta in with_metadata(self.client, self.vault, result.hits):
            out.append((Document(page_content=hit.text, metadata=meta, id=hit.uri), hit.score))
        return out

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> List[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def _select_relevance_score_fn(self) -> Any:
        # Scores are already "higher is better", on the scale of the search mode.
        return lambda score: score

    @classmethod
    def from_texts(
        cls,
        texts: List[str],
        embedding: Optional[Embeddings] = None,
        metadatas: Optional[List[dict]] = None,
        *,
        client: Optional[Trove] = None,
        vault: Optional[str] = None,
        ids: Optional[List[str]] = None,
        **kwargs: Any,
    ) -> "TroveVectorStore":
        """A store over `vault` of `client` (both required; `embedding` is ignored: the
        server embeds) holding `texts`."""
        if client is None or vault is None:
            raise ValueError("TroveVectorStore.from_texts needs client= (a trove_client.Trove) and vault=")
        store = cls(client, vault, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    def as_trove_retriever(self, k: int = 4, **kwargs: Any) -> TroveRetriever:
        """A `TroveRetriever` over the same vault (the chunk search without metadata look-ups)."""
        return TroveRetriever(client=self.client, vault=self.vault, k=k, mode=self.mode, **kwargs)
