"""langchain-trove against the real server the Rust harness started: the vector store keeps
metadata and filters by it, deletes by id; the retrievers answer chunks and memories, also
asynchronously; the example runs."""

import asyncio

import pytest
from langchain_core.documents import Document

from langchain_trove import TroveMemoryRetriever, TroveRetriever, TroveVectorStore
from trove_client import AsyncTrove, TroveError
from trove_fixtures import run_example


def test_the_vector_store_keeps_metadata_filters_by_it_and_deletes(client, vault):
    store = TroveVectorStore(client, vault)
    ids = store.add_texts(
        ["Water tomato plants deeply twice a week.", "Water the basil every day.", "Feed the sourdough starter."],
        metadatas=[{"topic": "garden", "plant": "tomato"}, {"topic": "garden", "plant": "basil"}, {"topic": "kitchen"}],
        ids=["tomato", "basil", "bread"],
    )
    assert ids == ["tomato", "basil", "bread"]
    found = store.similarity_search_with_score("how often should I water tomatoes", k=2)
    doc, score = found[0]
    assert doc.page_content.startswith("Water tomato plants") and doc.id == "tomato"
    assert doc.metadata["plant"] == "tomato" and doc.metadata["trove_vault"] == vault and score > 0

    kitchen = store.similarity_search("watering", k=3, filter={"topic": "kitchen"})
    assert [d.metadata["trove_uri"] for d in kitchen] == ["bread"]
    assert store.delete(["basil", "nope"]) is False
    assert {d.id for d in store.similarity_search("water the basil every day", k=5)} == {"tomato", "bread"}


def test_mistakes_are_refused_with_a_reason(client, vault):
    with pytest.raises(ValueError):
        TroveVectorStore(client, vault).add_texts(["one"], metadatas=[{}, {}])
    with pytest.raises(TroveError) as e:
        TroveVectorStore(client, "no-such-vault").add_texts(["text"])
    assert e.value.code == "vault_not_found"


def test_the_retrievers_answer_chunks_and_memories_also_async(client, vault):
    TroveVectorStore.from_texts(["Pick tomatoes when they are fully red."], metadatas=[{"topic": "garden"}], client=client, vault=vault)
    retriever = TroveRetriever(client=client, vault=vault, k=1, with_document_metadata=True)
    docs = retriever.invoke("when to pick tomatoes")
    assert isinstance(docs[0], Document) and "fully red" in docs[0].page_content and docs[0].metadata["topic"] == "garden"

    memory = TroveMemoryRetriever(client=client, vault=vault, user_id="ada", k=1)
    stored = memory.remember("Ada is allergic to peanuts", tags=["health"])
    TroveMemoryRetriever(client=client, vault=vault, user_id="bob").remember("Bob is allergic to cats")
    recalled = memory.invoke("what is Ada allergic to?")
    assert [d.metadata["memory_id"] for d in recalled] == [stored.id]

    async def asynchronously():
        async with AsyncTrove(client.base_url, token=client._http.headers["authorization"][7:]) as a:
            chunks = await TroveRetriever(client=client, async_client=a, vault=vault, k=1).ainvoke("ripe tomatoes")
            memories = await TroveMemoryRetriever(client=client, async_client=a, vault=vault, user_id="bob").ainvoke("allergy")
        return chunks, memories

    chunks, memories = asyncio.run(asynchronously())
    assert "fully red" in chunks[0].page_content
    assert [d.page_content for d in memories] == ["Bob is allergic to cats"]


def test_the_example_runs(client):
    out = run_example(client, __file__)
    assert "garden: Water tomato plants" in out and "Ada prefers answers in French" in out, out
