"""The blocking client against a real `trove serve` (started by `crates/trove/tests/clients.rs`
with authentication on and an API key limit of 60 requests a minute): login, vaults, an upload
with progress, search, documents, memories, jobs and the dead-letter queue, error codes, and a
429 the client waits out."""

import time

import pytest

from trove_client import NO_RETRIES, Trove, TroveError

TOMATOES = "# Tomatoes\n\n## Watering\n\nWater tomato plants deeply twice a week, at the base, in the morning.\n"


@pytest.fixture(scope="module")
def trove(server):
    # One login for the module: the server allows 20 logins an hour from one address.
    with Trove.login(server["url"], server["email"], server["password"]) as t:
        yield t


def test_an_upload_reports_progress_then_is_searchable(trove, name):
    vault = trove.vaults.create(name)
    assert vault.name == name and vault.documents == 0
    seen = []
    # Over 64 KiB, so the body goes out in several pieces, but little text to embed: the
    # converter drops the page's style sheet.
    style = "".join(f".c{i} {{ color: #{i:06x}; }}\n" for i in range(6000))
    big = f"<html><head><style>{style}</style></head><body><p>Compost heaps need worms.</p></body></html>"
    job = trove.documents.upload(
        name, [("tomatoes.md", TOMATOES), ("compost.html", big)], progress=lambda sent, total: seen.append((sent, total))
    )
    assert job.kind == "upload" and job.status in ("queued", "running")
    total = seen[-1][1]
    assert total > len(big), seen[-1]
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert total > 128 * 1024 and len(seen) > 3, seen
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))

    done = trove.wait(job)
    assert done.status == "succeeded", done.raw
    result = trove.search(name, "when should I water tomatoes", limit=3)
    assert result.hits and result.hits[0].uri == "tomatoes.md", result.raw
    assert result.hits[0].vault == name and result.hits[0].heading_path[0] == "Tomatoes"

    page = trove.documents.list(name)
    assert sorted(d.uri for d in page.items) == ["compost.html", "tomatoes.md"]
    detail = trove.documents.get(name, result.hits[0].document_id)
    assert detail.document.uri == "tomatoes.md" and detail.chunks
    trove.documents.delete(name, detail.document.id)
    assert [d.uri for d in trove.documents.list(name).items] == ["compost.html"]
    trove.vaults.delete(name)


def test_errors_carry_the_servers_code(trove, name):
    with pytest.raises(TroveError) as e:
        trove.search("no-such-vault", "anything")
    assert e.value.status == 404 and e.value.code == "vault_not_found"
    assert e.value.link.endswith("/docs/errors#vault_not_found") and e.value.request_id
    trove.vaults.create(name)
    with pytest.raises(TroveError) as e:
        trove.answer(name, "what is in here?")
    assert e.value.code == "chat_not_configured", e.value
    with pytest.raises(TroveError) as e:
        trove.vaults.create(name)
    assert e.value.status == 409, e.value
    trove.vaults.delete(name)


def test_memories_are_stored_listed_retrieved_changed_and_forgotten(trove, name):
    trove.vaults.create(name)
    tea = trove.memories.add(name, "Ada drinks green tea without sugar", user_id="ada", tags=["drinks"], importance=0.9)
    trove.memories.add(name, "Ada's cat is called Pascal", user_id="ada", tags=["pets"])
    trove.memories.add(name, "Bob prefers coffee", user_id="bob", tags=["drinks"])
    assert tea.user_id == "ada" and tea.tags == ["drinks"]

    drinks = trove.memories.list(name, tags=["drinks"])
    assert sorted(m.text for m in drinks.items) == ["Ada drinks green tea without sugar", "Bob prefers coffee"]
    hits = trove.memories.retrieve(name, "what does Ada like to drink?", user_id="ada", limit=2)
    assert hits[0].id == tea.id and hits[0].score is not None and all(h.user_id == "ada" for h in hits)

    changed = trove.memories.update(name, tea.id, text="Ada drinks jasmine tea", tags=["drinks", "tea"])
    assert changed.text == "Ada drinks jasmine tea" and trove.memories.get(name, tea.id).tags == ["drinks", "tea"]
    trove.memories.delete(name, tea.id)
    with pytest.raises(TroveError) as e:
        trove.memories.get(name, tea.id)
    assert e.value.status == 404, e.value
    trove.vaults.delete(name)


def test_a_failed_job_goes_to_the_dead_letter_queue_and_back(trove, name):
    trove.vaults.create(name)
    job = trove.documents.add_texts(name, [{"uri": "bad.json", "text": "{not json", "format": "json"}])
    dead = trove.wait(job)
    assert dead.status == "dead" and dead.error.code == "document_unreadable", dead.raw
    assert job.id in [j.id for j in trove.dlq.list(vault=name).items]
    assert trove.jobs.list(vault=name, status="dead").items[0].id == job.id
    assert trove.dlq.get(job.id).error.code == "document_unreadable"

    again = trove.dlq.retry(job.id)
    assert again.id == job.id and again.status == "queued"
    assert trove.wait(again).status == "dead"
    trove.dlq.delete(job.id)
    with pytest.raises(TroveError) as e:
        trove.dlq.get(job.id)
    assert e.value.status == 404
    trove.vaults.delete(name)


def test_an_api_key_over_its_rate_limit_is_answered_429_and_the_client_waits(server):
    calls = []
    with Trove(server["url"], api_key=server["key"], retries=NO_RETRIES) as impatient:
        impatient._http.event_hooks["response"].append(lambda r: calls.append(r.status_code))
        with pytest.raises(TroveError) as e:
            for _ in range(200):
                impatient.vaults.list()
    assert e.value.status == 429 and e.value.code == "rate_limited"
    assert e.value.retry_after is not None and e.value.retry_after >= 1
    # A key may spend its minute's 60 requests at once (plus what refills meanwhile, one a
    # second); then one is refused.
    assert calls[-1] == 429 and calls.count(429) == 1 and calls.count(200) >= 1, calls

    with Trove(server["url"], api_key=server["key"]) as patient:
        statuses = []
        patient._http.event_hooks["response"].append(lambda r: statuses.append(r.status_code))
        started = time.monotonic()
        assert isinstance(patient.vaults.list(), list)
        waited = time.monotonic() - started
    assert statuses[0] == 429 and statuses[-1] == 200, statuses
    assert waited >= 0.9, waited
