"""llama-index-trove against the real server the Rust harness started: the vector store adds,
queries with metadata filters and deletes by source document; the retriever answers scored
nodes; the memory block stores a user's messages and recalls them inside `Memory`; the
example runs."""

import asyncio

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory import Memory
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters, VectorStoreQuery

from llama_index_trove import TroveMemoryBlock, TroveRetriever, TroveVectorStore
from trove_fixtures import run_example



def _node(text, doc, **metadata):
    node = TextNode(text=text, metadata=metadata)
    node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc)
    return node


def test_the_vector_store_adds_queries_filters_and_deletes(client, vault):
    store = TroveVectorStore(client, vault)
    nodes = [
        _node("Water tomato plants deeply twice a week.", "garden-guide", topic="garden"),
        _node("Water the basil every day.", "garden-guide", topic="garden"),
        _node("Feed the sourdough starter with flour.", "bread-book", topic="kitchen"),
    ]
    assert store.add(nodes) == [n.node_id for n in nodes]
    result = store.query(VectorStoreQuery(query_str="how often should I water tomatoes", similarity_top_k=2))
    assert result.nodes[0].node_id == nodes[0].node_id and result.nodes[0].metadata["topic"] == "garden"
    assert len(result.similarities) == len(result.ids) == len(result.nodes)

    kitchen = MetadataFilters(filters=[MetadataFilter(key="topic", value="kitchen")])
    found = store.query(VectorStoreQuery(query_str="watering", similarity_top_k=3, filters=kitchen))
    assert [n.node_id for n in found.nodes] == [nodes[2].node_id]
    with pytest.raises(ValueError):
        other = MetadataFilters(filters=[MetadataFilter(key="topic", value="a", operator=FilterOperator.NE)])
        store.query(VectorStoreQuery(query_str="x", filters=other))

    store.delete("garden-guide")
    left = store.query(VectorStoreQuery(query_str="water tomatoes basil", similarity_top_k=5))
    assert [n.node_id for n in left.nodes] == [nodes[2].node_id]


def test_the_retriever_answers_scored_nodes(client, vault):
    TroveVectorStore(client, vault).add([_node("Pick tomatoes when they are fully red.", "guide", topic="garden")])
    found = TroveRetriever(client, vault, k=1, with_document_metadata=True).retrieve("when to pick tomatoes")
    assert "fully red" in found[0].node.get_content() and found[0].score > 0
    assert found[0].node.metadata["topic"] == "garden" and found[0].node.metadata["trove_vault"] == vault


def test_the_memory_block_remembers_a_user_inside_memory(client, vault):
    block = TroveMemoryBlock(client=client, vault=vault, user_id="ada", k=2)
    other = TroveMemoryBlock(client=client, vault=vault, user_id="bob")

    async def scenario():
        memory = Memory.from_defaults(session_id="s1", token_limit=60, chat_history_token_ratio=0.5, memory_blocks=[block])
        await memory.aput_messages(
            [
                ChatMessage(role="user", content="My name is Ada and I am allergic to peanuts, please remember that."),
                ChatMessage(role="assistant", content="Noted: no peanuts for you."),
            ]
            + [ChatMessage(role="user", content=f"Filler message number {i} about nothing much at all.") for i in range(12)]
        )
        await other.aput([ChatMessage(role="user", content="Bob is allergic to cats")])
        return await block.aget([ChatMessage(role="user", content="what food is Ada allergic to?")])

    recalled = asyncio.run(scenario())
    assert "peanuts" in recalled and "cats" not in recalled, recalled
    stored = client.memories.list(vault, user_id="ada").items
    assert stored and all("user" in m.tags for m in stored) and not any("Noted" in m.text for m in stored)


def test_the_example_runs(client):
    out = run_example(client, __file__)
    assert "store: Water tomato plants deeply twice a week. garden" in out and "French" in out, out
