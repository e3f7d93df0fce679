"""LlamaIndex over Trove: nodes stored in a vault and queried through the vector store and a
retriever, and an agent memory whose long-term block is Trove.

    TROVE_URL=http://127.0.0.1:7700 TROVE_API_KEY=tk_... python examples/example.py
"""

import asyncio
import os
import uuid

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.memory import Memory
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import VectorStoreQuery
from trove_client import Trove

from llama_index_trove import TroveMemoryBlock, TroveRetriever, TroveVectorStore


def main() -> None:
    client = Trove(os.environ["TROVE_URL"], api_key=os.environ.get("TROVE_API_KEY"), token=os.environ.get("TROVE_TOKEN"))
    vault = os.environ.get("TROVE_VAULT") or f"llamaindex-example-{uuid.uuid4().hex[:6]}"
    client.vaults.create(vault)
    store = TroveVectorStore(client, vault)
    store.add([TextNode(text="Water tomato plants deeply twice a week.", metadata={"topic": "garden"})])
    result = store.query(VectorStoreQuery(query_str="how often to water tomatoes", similarity_top_k=1))
    print("store:", result.nodes[0].get_content(), result.nodes[0].metadata["topic"])
    print("retriever:", [n.get_content() for n in TroveRetriever(client, vault, k=1).retrieve("tomatoes")])

    async def remember() -> str:
        block = TroveMemoryBlock(client=client, vault=vault, user_id="ada")
        memory = Memory.from_defaults(session_id="example", token_limit=40, memory_blocks=[block])
        await block.aput([ChatMessage(role="user", content="I am Ada and I prefer answers in French")])
        return await block.aget([ChatMessage(role="user", content="which language should you answer in?")])

    print("memory:", asyncio.run(remember()))
    client.vaults.delete(vault)


if __name__ == "__main__":
    main()
