"""Drives Trove's MCP server with the official MCP Python SDK (`pip install mcp`).

Usage: client.py stdio TROVE_BINARY WORKSPACE
       client.py http URL KEY OTHER_VAULT_KEY

Checks every tool and a resource, prints one JSON line of what it saw, and exits non-zero
(with the reason on stderr) on the first failed expectation.
"""

import asyncio
import json
import sys

import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

TOOLS = {
    "search", "answer", "expand_context", "find_similar", "list_vaults", "list_sources", "ingest_status",
    "store_memory", "retrieve_memory", "list_memories", "update_memory", "delete_memory", "memory_stats",
}


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


async def call(session, name, args):
    result = await session.call_tool(name, args)
    text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
    data = result.structured_content if getattr(result, "structured_content", None) is not None else json.loads(text)
    return result.is_error, data, text


async def exercise(session, vault):
    seen = {}
    init = await session.initialize()
    seen["protocol"] = init.protocol_version
    expect(init.server_info.name == "trove", f"server name {init.server_info.name}")
    listed = await session.list_tools()
    names = {t.name for t in listed.tools}
    expect(names == TOOLS, f"tools: {sorted(names)}")
    for t in listed.tools:
        expect(t.input_schema.get("type") == "object" and t.description, f"{t.name} has a schema and description")

    err, data, text = await call(session, "list_vaults", {})
    expect(not err and vault in [v["name"] for v in data["vaults"]], f"list_vaults: {text}")
    err, data, text = await call(session, "list_sources", {"vault": vault})
    expect(not err and data["sources"][0]["documents"] >= 2, f"list_sources: {text}")
    err, data, text = await call(session, "ingest_status", {"vault": vault})
    expect(not err and data["vault"]["documents"] >= 2, f"ingest_status: {text}")
    last = data["sources"][0]["last_sync"]
    expect(last["added"] == 3 and last["failed"] == 0 and last["finished_at"], f"ingest_status last sync: {text}")

    err, data, text = await call(session, "search", {"vault": vault, "query": "how to water tomato plants", "limit": 3})
    expect(not err and data["hits"], f"search: {text}")
    top = data["hits"][0]
    expect(top["uri"] == "tomatoes.md", f"search top hit: {top['uri']}")
    err, data, text = await call(session, "search", {"vault": vault, "query": "sourdough", "mode": "keyword", "uri_prefix": "bread"})
    expect(not err and all(h["uri"].startswith("bread") for h in data["hits"]) and data["hits"], f"keyword search: {text}")
    # Hits carry what an agent cites and filters by: the url, the source's type, the metadata.
    err, data, text = await call(session, "search", {"vault": vault, "query": "flour water", "mode": "keyword", "metadata": {"team": "kitchen"}})
    expect(not err and data["hits"] and all(h["uri"] == "bread.md" for h in data["hits"]), f"metadata filter: {text}")
    hit = data["hits"][0]
    expect(hit["url"] == "https://wiki.example.com/kitchen/sourdough" and hit["source_type"] == "localfile", f"hit url and source type: {text}")
    expect(hit["metadata"].get("team") == "kitchen", f"hit metadata: {text}")
    err, data, text = await call(session, "search", {"vault": vault, "query": "water", "mode": "keyword", "metadata": {"team": "garden"}})
    expect(not err and data["hits"] == [], f"metadata filter excludes: {text}")
    err, data, text = await call(session, "search", {"vault": vault, "query": "water", "mode": "keyword", "group_by": "document", "context": 1})
    uris = [h["uri"] for h in data["hits"]] if not err else []
    expect(uris and len(uris) == len(set(uris)) and all("other_chunks" in h and h["context"] for h in data["hits"]), f"grouped search with context: {text}")
    expect(all("url" not in h for h in data["hits"] if h["uri"] != "bread.md"), f"no url for local notes: {text}")

    err, data, text = await call(session, "expand_context", {"vault": vault, "chunk_id": top["chunk_id"], "before": 5, "after": 5})
    expect(not err and len(data["chunks"]) >= 2 and any(c["is_hit"] for c in data["chunks"]), f"expand_context: {text}")
    expect(data["document"]["uri"] == "tomatoes.md", f"expand_context document: {text}")
    err, data, text = await call(session, "find_similar", {"vault": vault, "chunk_id": top["chunk_id"], "limit": 2})
    expect(not err and data["similar"] and all(d["uri"] != "tomatoes.md" for d in data["similar"]), f"find_similar: {text}")
    expect(data["similar"][0]["uri"] == "peppers.md", f"find_similar ranks the other garden note first: {text}")

    err, data, text = await call(session, "store_memory", {"vault": vault, "text": "Ada prefers oat milk in her coffee", "user_id": "ada", "tags": ["food"]})
    expect(not err and data["id"], f"store_memory: {text}")
    mid = data["id"]
    err, data, text = await call(session, "retrieve_memory", {"vault": vault, "query": "what milk does Ada like", "user_id": "ada"})
    expect(not err and data["memories"] and data["memories"][0]["id"] == mid, f"retrieve_memory: {text}")
    err, data, text = await call(session, "list_memories", {"vault": vault, "user_id": "ada"})
    expect(not err and [m["id"] for m in data["memories"]] == [mid], f"list_memories: {text}")
    err, data, text = await call(session, "update_memory", {"vault": vault, "id": mid, "text": "Ada now prefers almond milk"})
    expect(not err and "almond" in data["text"], f"update_memory: {text}")
    err, data, text = await call(session, "memory_stats", {"vault": vault})
    expect(not err and data["total"] == 1, f"memory_stats: {text}")
    err, data, text = await call(session, "delete_memory", {"vault": vault, "id": mid})
    expect(not err and data["deleted"] == mid, f"delete_memory: {text}")

    # Errors are tool results with a stable code and a hint, not protocol failures.
    err, data, text = await call(session, "search", {"vault": "nope", "query": "x"})
    expect(err and "vault_not_found" in text, f"unknown vault: {text}")
    err, data, text = await call(session, "store_memory", {"vault": vault, "text": "x", "colour": "red"})
    expect(err and "bad_request" in text and "colour" in text, f"unknown argument: {text}")
    err, data, text = await call(session, "delete_memory", {"vault": vault, "id": mid})
    expect(err and "memory_not_found" in text, f"deleted twice: {text}")

    resources = await session.list_resources()
    uris = [str(r.uri) for r in resources.resources]
    expect(f"trove://vaults/{vault}/sources" in uris, f"resources: {uris}")
    read = await session.read_resource(f"trove://vaults/{vault}/sources")
    expect("docs" in read.contents[0].text, f"resource text: {read.contents[0].text}")
    seen["tools"] = sorted(names)
    return seen


async def main():
    mode = sys.argv[1]
    if mode == "stdio":
        binary, workspace = sys.argv[2], sys.argv[3]
        params = StdioServerParameters(command=binary, args=["--workspace", workspace, "mcp"])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                seen = await exercise(session, "notes")
    else:
        url, key, other_key = sys.argv[2], sys.argv[3], sys.argv[4]
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
            async with streamable_http_client(url, http_client=client) as (read, write):
                async with ClientSession(read, write) as session:
                    seen = await exercise(session, "notes")
        # A key for another organization's vault sees no `notes`, and its calls on it fail.
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {other_key}"}, timeout=120) as client:
            async with streamable_http_client(url, http_client=client) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    err, data, text = await call(session, "list_vaults", {})
                    expect(not err and "notes" not in [v["name"] for v in data["vaults"]], f"other key's vaults: {text}")
                    err, data, text = await call(session, "search", {"vault": "notes", "query": "tomatoes"})
                    expect(err and "vault_not_found" in text and "tomato" not in text.lower(), f"other key on notes: {text}")
                    err, data, text = await call(session, "retrieve_memory", {"vault": "notes", "query": "milk"})
                    expect(err and "vault_not_found" in text, f"other key's memories: {text}")
        # No key, no tools.
        async with httpx2.AsyncClient(timeout=30) as client:
            r = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                  headers={"Accept": "application/json, text/event-stream"})
            expect(r.status_code == 401, f"no key: {r.status_code} {r.text}")
            seen["without_key"] = r.status_code
    print(json.dumps(seen))


def run_main(main):
    """Runs the coroutine `main`; a failed expectation exits 1 with the reason on stderr."""
    try:
        asyncio.run(main())
    except AssertionError as e:
        print(f"expectation failed: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    run_main(main)
