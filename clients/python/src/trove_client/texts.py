"""Texts with metadata as Trove documents, for the framework integrations (`langchain-trove`,
`llama-index-trove`): a text and its metadata become a Markdown document whose front matter
holds the metadata (JSON, which is YAML), so the server keeps it, filters searches by it and
answers it with the document; and the metadata of search hits, read back per document."""

from __future__ import annotations

import json
import uuid
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ._models import SearchHit


def as_document(text: str, metadata: Optional[Mapping[str, Any]] = None, uri: Optional[str] = None) -> Dict[str, Any]:
    """An upload entry (`{"uri", "text", "format": "markdown"}`) for `documents.add_texts`;
    the uri is a fresh `<uuid>.md` when none is given."""
    body = text
    if metadata:
        body = f"---\n{json.dumps(dict(metadata), default=str)}\n---\n{text}"
    return {"uri": uri or f"{uuid.uuid4().hex}.md", "text": body, "format": "markdown"}


def as_documents(
    texts: Iterable[str], metadatas: Optional[Sequence[Optional[Mapping[str, Any]]]], ids: Optional[Sequence[str]]
) -> List[Dict[str, Any]]:
    """`as_document` over parallel lists (either of which may be absent)."""
    texts = list(texts)
    if metadatas is not None and len(metadatas) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(metadatas)} metadatas: give one per text")
    if ids is not None and len(ids) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(ids)} ids: give one per text")
    return [
        as_document(t, metadatas[i] if metadatas else None, ids[i] if ids else None) for i, t in enumerate(texts)
    ]


def hit_metadata(hit: SearchHit, document_metadata: Mapping[str, Any]) -> Dict[str, Any]:
    """The metadata of a hit for a framework: the document's own (its front matter) and where
    the chunk is (`trove_*` keys, which win over the document's)."""
    out = dict(document_metadata)
    out.update(
        trove_vault=hit.vault,
        trove_source=hit.source,
        trove_uri=hit.uri,
        trove_title=hit.title,
        trove_document_id=hit.document_id,
        trove_chunk_id=hit.chunk_id,
        trove_heading_path=list(hit.heading_path),
        trove_score=hit.score,
    )
    return out


def with_metadata(client: Any, vault: str, hits: Sequence[SearchHit]) -> List[Tuple[SearchHit, Dict[str, Any]]]:
    """Each hit with `hit_metadata`, reading each document's metadata once (blocking client)."""
    documents: Dict[int, Any] = {}
    out = []
    for hit in hits:
        if hit.document_id not in documents:
            meta = client.documents.get(vault, hit.document_id).metadata
            documents[hit.document_id] = meta if isinstance(meta, dict) else {}
        out.append((hit, hit_metadata(hit, documents[hit.document_id])))
    return out


def document_ids(client: Any, vault: str, match: Callable[[str], bool]) -> Dict[str, int]:
    """The ids of the vault's documents whose uri `match`es, by uri, paging through the
    vault's documents (blocking client)."""
    found: Dict[str, int] = {}
    cursor = None
    while True:
        page = client.documents.list(vault, cursor=cursor, limit=100)
        found.update({d.uri: d.id for d in page.items if match(d.uri)})
        cursor = page.next_cursor
        if not cursor:
            return found
