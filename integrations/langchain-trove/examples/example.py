"""LangChain over Trove: store texts with metadata in a vault, search them as a vector store
and through a retriever, and give an agent long-term memory of a user.

    TROVE_URL=http://127.0.0.1:7700 TROVE_API_KEY=tk_... python examples/example.py
"""

import os
import uuid

from trove_client import Trove

from langchain_trove import TroveMemoryRetriever, TroveVectorStore


def main() -> None:
    client = Trove(os.environ["TROVE_URL"], api_key=os.environ.get("TROVE_API_KEY"), token=os.environ.get("TROVE_TOKEN"))
    vault = os.environ.get("TROVE_VAULT") or f"langchain-example-{uuid.uuid4().hex[:6]}"
    client.vaults.create(vault)
    store = TroveVectorStore.from_texts(
        ["Water tomato plants deeply twice a week.", "Feed the sourdough starter daily."],
        metadatas=[{"topic": "garden"}, {"topic": "kitchen"}],
        client=client,
        vault=vault,
    )
    for doc, score in store.similarity_search_with_score("how often to water tomatoes", k=1, filter={"topic": "garden"}):
        print(f"{score:.3f} {doc.metadata['topic']}: {doc.page_content}")
    retriever = store.as_retriever(search_kwargs={"k": 1})
    print("retriever:", [d.page_content for d in retriever.invoke("sourdough")])

    memory = TroveMemoryRetriever(client=client, vault=vault, user_id="ada")
    memory.remember("Ada prefers answers in French")
    print("memory:", [d.page_content for d in memory.invoke("which language does Ada like?")])
    client.vaults.delete(vault)


if __name__ == "__main__":
    main()
