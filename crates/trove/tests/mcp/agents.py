"""Several agents on one workspace: each runs its own `trove mcp` over stdio, driven by the
official MCP Python SDK, and all of them store and recall memories at once.

Usage: agents.py TROVE_BINARY WORKSPACE AGENTS MEMORIES [STARTED_FILE]

Each agent stores MEMORIES memories (each with its own code word), recalling another agent's
latest memory every tenth store while the others write; once every agent has stored all of
its memories, each recalls memories of every other agent by their code words and reads the
vault's memory count. When STARTED_FILE is given, a line is appended to it once every agent's
server answers (so the caller can act while they work). Prints one JSON line: per agent the
ids it stored and how many of the others' memories it found, every request's slowest time,
and any tool error; exits non-zero on the first failed expectation.
"""

import asyncio
import json
import sys
import time

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from client import expect, run_main

VAULT = "notes"


def text_of(agent, i):
    return f"agent {agent} remembers item {i}, code word a{agent}q{i}"


class Run:
    def __init__(self, agents, memories):
        self.agents = agents
        self.memories = memories
        self.slowest = (0.0, "")
        self.errors = []
        self.stored = {a: [] for a in range(agents)}
        self.found = {a: 0 for a in range(agents)}
        self.ready = 0
        self.all_ready = asyncio.Event()
        self.done = 0
        self.all_done = asyncio.Event()

    async def call(self, session, name, args):
        started = time.monotonic()
        result = await session.call_tool(name, args)
        took = time.monotonic() - started
        if took > self.slowest[0]:
            self.slowest = (took, name)
        text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
        if result.is_error:
            self.errors.append(f"{name}: {text}")
            return None
        return result.structured_content if result.structured_content is not None else json.loads(text)


async def agent(run, a, binary, workspace, started_file):
    params = StdioServerParameters(command=binary, args=["--workspace", workspace, "mcp"])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            run.ready += 1
            if run.ready == run.agents:
                if started_file:
                    with open(started_file, "a") as f:
                        f.write("started\n")
                run.all_ready.set()
            await run.all_ready.wait()
            other = (a + 1) % run.agents
            for i in range(run.memories):
                data = await run.call(session, "store_memory", {"vault": VAULT, "text": text_of(a, i), "agent_id": f"agent{a}"})
                if data is not None:
                    run.stored[a].append(data["id"])
                if i % 10 == 9 and run.stored[other]:
                    j = len(run.stored[other]) - 1
                    await run.call(session, "retrieve_memory", {"vault": VAULT, "query": f"a{other}q{j}", "limit": 3})
            run.done += 1
            if run.done == run.agents:
                run.all_done.set()
            await run.all_done.wait()
            for b in range(run.agents):
                if b == a:
                    continue
                for i in range(0, run.memories, max(1, run.memories // 4)):
                    data = await run.call(session, "retrieve_memory", {"vault": VAULT, "query": f"a{b}q{i}", "agent_id": f"agent{b}", "limit": 3})
                    if data and any(m["text"] == text_of(b, i) for m in data["memories"]):
                        run.found[a] += 1
            stats = await run.call(session, "memory_stats", {"vault": VAULT})
            expect(stats is not None and stats["total"] == run.agents * run.memories, f"agent {a} counts {stats}")


async def main():
    binary, workspace, agents, memories = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    started_file = sys.argv[5] if len(sys.argv) > 5 else None
    run = Run(agents, memories)
    await asyncio.gather(*(agent(run, a, binary, workspace, started_file) for a in range(agents)))
    print(json.dumps({
        "stored": {str(a): ids for a, ids in run.stored.items()},
        "found_others": {str(a): n for a, n in run.found.items()},
        "slowest_s": run.slowest[0],
        "slowest_tool": run.slowest[1],
        "errors": run.errors,
    }))


if __name__ == "__main__":
    run_main(main)
