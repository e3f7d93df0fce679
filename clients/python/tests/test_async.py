"""The asyncio client against the real server: login, an upload with progress, search and
memories, several calls at once, and an error code."""

import asyncio

import pytest

from trove_client import AsyncTrove, TroveError


def test_the_async_client_uploads_searches_and_remembers(server, name):
    async def scenario():
        async with await AsyncTrove.login(server["url"], server["email"], server["password"]) as trove:
            await trove.vaults.create(name)
            seen = []
            job = await trove.documents.upload(
                name,
                [("bread.md", "# Sourdough\n\nFeed the starter with flour and water, then let the dough rise overnight.\n")],
                progress=lambda sent, total: seen.append((sent, total)),
            )
            assert seen[-1][0] == seen[-1][1] > 0
            assert (await trove.wait(job)).status == "succeeded"
            search, memory = await asyncio.gather(
                trove.search(name, "how long does the dough rise", mode="hybrid"),
                trove.memories.add(name, "Ada bakes on Sundays", user_id="ada"),
            )
            assert search.hits[0].uri == "bread.md" and search.mode == "hybrid"
            hits = await trove.memories.retrieve(name, "when does Ada bake?", user_id="ada")
            assert hits[0].id == memory.id
            with pytest.raises(TroveError) as e:
                await trove.documents.get(name, 999999)
            assert e.value.status == 404 and e.value.code
            await trove.vaults.delete(name)

    asyncio.run(scenario())
