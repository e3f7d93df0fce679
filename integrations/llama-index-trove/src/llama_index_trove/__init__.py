"""LlamaIndex over Trove: `TroveRetriever` (a vault's search as a retriever),
`TroveVectorStore` (nodes stored as documents of a vault, embedded by the server, so it asks
for no query embedding) and `TroveMemoryBlock` (long-term memory for `llama_index.core.memory
.Memory`: messages stored as a user's memories, the relevant ones recalled for the latest
message)."""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional, Sequence

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.callbacks import CallbackManager
from llama_index.core.memory.memory import BaseMemoryBlock
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle, TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from pydantic import PrivateAttr
from trove_client import Trove, TroveError
from trove_client.texts import as_document, document_ids, hit_metadata, with_metadata

__all__ = ["TroveMemoryBlock", "TroveRetriever", "TroveVectorStore"]

#: LlamaIndex query modes and the Trove search modes they mean.
MODES = {
    VectorStoreQueryMode.DEFAULT: None,
    VectorStoreQueryMode.HYBRID: "hybrid",
    VectorStoreQueryMode.TEXT_SEARCH: "keyword",
    VectorStoreQueryMode.SPARSE: "keyword",
}


def metadata_filter(filters: Optional[MetadataFilters]) -> Optional[Dict[str, Any]]:
    """Trove's metadata filter (each key equal to a value, all of them) for LlamaIndex
    filters; other operators and `or` are refused with `ValueError`, as Trove cannot apply them."""
    if not filters or not filters.filters:
        return None
    if filters.condition not in (None, FilterCondition.AND):
        raise ValueError(f"Trove filters metadata with `and` only, not `{filters.condition}`")
    out: Dict[str, Any] = {}
    for f in filters.filters:
        if isinstance(f, MetadataFilters) or f.operator != FilterOperator.EQ:
            raise ValueError(f"Trove filters metadata by equality only; `{f}` cannot be applied")
        out[f.key] = f.value
    return out


def _node(hit: Any, metadata: Dict[str, Any]) -> TextNode:
    node_id = metadata.pop("node_id", None) or f"{hit.vault}:{hit.chunk_id}"
    return TextNode(id_=str(node_id), text=hit.text, metadata=metadata)


class TroveRetriever(BaseRetriever):
    """The best chunks of a vault for a query, as scored nodes (metadata: `trove_uri`,
    `trove_title`, `trove_score`, ... and, with `with_document_metadata`, the document's own)."""

    def __init__(
        self,
        client: Trove,
        vault: str,
        k: int = 4,
        mode: Optional[str] = None,
        filters: Optional[Dict[str, Any]] = None,
        with_document_metadata: bool = False,
        callback_manager: Optional[CallbackManager] = None,
    ) -> None:
        super().__init__(callback_manager=callback_manager)
        self.client, self.vault, self.k, self.mode, self.filters = client, vault, k, mode, filters
        self.with_document_metadata = with_document_metadata

    def _retrieve(self, query_bundle: QueryBundle) -> List[NodeWithScore]:
        result = self.client.search(self.vault, query_bundle.query_str, limit=self.k, mode=self.mode, filters=self.filters)
        if self.with_document_metadata:
            pairs = with_metadata(self.client, self.vault, result.hits)
        else:
            pairs = [(h, hit_metadata(h, {})) for h in result.hits]
        return [NodeWithScore(node=_node(h, meta), score=h.score) for h, meta in pairs]


class TroveVectorStore(BasePydanticVectorStore):
    """A vault as a LlamaIndex vector store. The server embeds with the vault's model, so
    node embeddings are ignored and queries need only `query_str`. Each node becomes a
    Markdown document `<ref_doc_id>/<node_id>.md` whose front matter is its metadata;
    `delete(ref_doc_id)` removes a source document's nodes."""

    stores_text: bool = True
    is_embedding_query: bool = False
    vault: str
    wait_s: float = 300.0
    _trove: Any = PrivateAttr()

    def __init__(self, client: Trove, vault: str, wait_s: float = 300.0) -> None:
        super().__init__(vault=vault, wait_s=wait_s)
        self._trove = client

    @property
    def client(self) -> Trove:
        return self._trove

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> List[str]:
        """Uploads the nodes and waits until they are indexed; answers their ids."""
        if not nodes:
            return []
        documents = []
        for node in nodes:
            meta = dict(node.metadata, node_id=node.node_id, ref_doc_id=node.ref_doc_id)
            uri = f"{node.ref_doc_id or 'nodes'}/{node.node_id}.md"
            documents.append(as_document(node.get_content(metadata_mode=MetadataMode.NONE), meta, uri))
        job = self._trove.wait(self._trove.documents.add_texts(self.vault, documents), timeout=self.wait_s)
        if job.status != "succeeded":
            code = job.error.code if job.error else job.status
            raise TroveError(0, code, f"the upload job {job.id} ended {job.status}: {job.error.message if job.error else ''}")
        return [n.node_id for n in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Removes every node of the source document `ref_doc_id`."""
        prefix = f"{ref_doc_id}/"
        for id in document_ids(self._trove, self.vault, lambda uri: uri.startswith(prefix)).values():
            self._trove.documents.delete(self.vault, id)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The `similarity_top_k` best chunks for `query_str` (Trove embeds it), filtered by
        metadata equality; each node carries its document's metadata."""
        if not query.query_str:
            raise ValueError("TroveVectorStore searches by text: the query needs query_str (Trove embeds it itself)")
        if query.mode not in MODES:
            raise ValueError(f"Trove cannot run query mode `{query.mode}`; use default, hybrid, text_search or sparse")
        meta = metadata_filter(query.filters)
        result = self._trove.search(
            self.vault,
            query.query_str,
            limit=query.similarity_top_k,
            mode=MODES[query.mode],
            filters={"metadata": meta} if meta else None,
        )
        nodes = [_node(h, m) for h, m in with_metadata(self._trove, self.vault, result.hits)]
        return VectorStoreQueryResult(nodes=nodes, similarities=[h.score for h in result.hits], ids=[n.node_id for n in nodes])


class TroveMemoryBlock(BaseMemoryBlock[str]):
    """Long-term memory for `llama_index.core.memory.Memory`: messages put here (those of the
    roles in `roles`) are stored as memories of `user_id` (and `agent_id`); getting it answers
    the `k` memories most relevant to the latest message, one per line."""

    name: str = "trove_memory"
    client: Any
    vault: str
    user_id: Optional[str] = None
    agent_id: Optional[str] = None
    k: int = 5
    roles: List[MessageRole] = [MessageRole.USER]

    async def _aget(self, messages: Optional[List[ChatMessage]] = None, **block_kwargs: Any) -> str:
        query = next((m.content for m in reversed(messages or []) if m.content), None)
        if not query:
            return ""
        hits = await asyncio.to_thread(
            self.client.memories.retrieve, self.vault, query, limit=self.k, user_id=self.user_id, agent_id=self.agent_id
        )
        return "\n".join(f"- {m.text}" for m in hits)

    async def _aput(self, messages: List[ChatMessage]) -> None:
        for m in messages:
            if m.role in self.roles and m.content:
                session = m.additional_kwargs.get("session_id")
                await asyncio.to_thread(
                    self.client.memories.add,
                    self.vault,
                    m.content,
                    user_id=self.user_id,
                    agent_id=self.agent_id,
                    session_id=session,
                    tags=[str(m.role.value)],
                )
