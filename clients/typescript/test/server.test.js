// The client against a real `trove serve` (started by `crates/trove/tests/clients.rs` with
// authentication on and an API key limit of 60 requests a minute): login, an upload with
// progress, search, documents, memories, jobs and the dead-letter queue, error codes, a 429.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { before, test } from "node:test";

import { NO_RETRIES, Trove, TroveError } from "../src/index.js";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through cargo nextest run -p trove --test clients (scripts/test)`);
  return value;
};
const url = env("TROVE_TEST_URL");
const fresh = () => `t${randomUUID().replaceAll("-", "").slice(0, 10)}`;
let trove;

before(async () => {
  // One login for the file: the server allows 20 logins an hour from one address.
  trove = await Trove.login(url, env("TROVE_TEST_EMAIL"), env("TROVE_TEST_PASSWORD"));
});

test("an upload reports progress, then is searchable", async () => {
  const name = fresh();
  assert.equal((await trove.vaults.create(name)).name, name);
  const style = Array.from({ length: 6000 }, (_, i) => `.c${i} { color: #${i.toString(16).padStart(6, "0")}; }`).join("\n");
  const files = [
    { name: "tomatoes.md", content: "# Tomatoes\n\n## Watering\n\nWater tomato plants deeply twice a week, at the base.\n" },
    { name: "compost.html", content: `<html><head><style>${style}</style></head><body><p>Compost heaps need worms.</p></body></html>` },
  ];
  const seen = [];
  const job = await trove.documents.upload(name, files, { progress: (sent, total) => seen.push([sent, total]) });
  assert.equal(job.kind, "upload");
  const total = seen.at(-1)[1];
  assert.ok(total > 128 * 1024 && seen.length > 3, JSON.stringify(seen));
  assert.deepEqual(seen[0], [0, total]);
  assert.deepEqual(seen.at(-1), [total, total]);
  assert.equal((await trove.wait(job)).status, "succeeded");

  const result = await trove.search(name, "when should I water tomatoes", { limit: 3 });
  assert.equal(result.hits[0].uri, "tomatoes.md");
  assert.deepEqual(result.hits[0].heading_path.slice(0, 1), ["Tomatoes"]);
  const docs = await trove.documents.list(name);
  assert.deepEqual(docs.items.map((d) => d.uri).sort(), ["compost.html", "tomatoes.md"]);
  const detail = await trove.documents.get(name, result.hits[0].document_id);
  assert.equal(detail.document.uri, "tomatoes.md");
  await trove.vaults.delete(name);
});

test("errors carry the server's code", async () => {
  await assert.rejects(trove.search("no-such-vault", "x"), (e) => {
    assert.ok(e instanceof TroveError);
    assert.equal(e.status, 404);
    assert.equal(e.code, "vault_not_found");
    assert.ok(e.link.endsWith("/docs/errors#vault_not_found") && e.requestId);
    return true;
  });
  const name = fresh();
  await trove.vaults.create(name);
  await assert.rejects(trove.answer(name, "what is in here?"), (e) => e.code === "chat_not_configured");
  await trove.vaults.delete(name);
});

test("memories are stored, listed, retrieved, changed and forgotten", async () => {
  const name = fresh();
  await trove.vaults.create(name);
  const tea = await trove.memories.add(name, "Ada drinks green tea without sugar", { user_id: "ada", tags: ["drinks"] });
  await trove.memories.add(name, "Ada's cat is called Pascal", { user_id: "ada", tags: ["pets"] });
  await trove.memories.add(name, "Bob prefers coffee", { user_id: "bob", tags: ["drinks"] });
  const drinks = await trove.memories.list(name, { tags: ["drinks"] });
  assert.deepEqual(drinks.items.map((m) => m.text).sort(), ["Ada drinks green tea without sugar", "Bob prefers coffee"]);
  const hits = await trove.memories.retrieve(name, "what does Ada like to drink?", { userId: "ada", limit: 2 });
  assert.equal(hits[0].id, tea.id);
  assert.ok(hits.every((h) => h.user_id === "ada" && typeof h.score === "number"));
  const changed = await trove.memories.update(name, tea.id, { text: "Ada drinks jasmine tea" });
  assert.equal(changed.text, "Ada drinks jasmine tea");
  await trove.memories.delete(name, tea.id);
  await assert.rejects(trove.memories.get(name, tea.id), (e) => e.status === 404);
  await trove.vaults.delete(name);
});

test("a failed job goes to the dead-letter queue and back", async () => {
  const name = fresh();
  await trove.vaults.create(name);
  const job = await trove.documents.addTexts(name, [{ uri: "bad.json", text: "{not json", format: "json" }]);
  const dead = await trove.wait(job);
  assert.equal(dead.status, "dead");
  assert.equal(dead.error.code, "document_unreadable");
  assert.ok((await trove.dlq.list({ vault: name })).items.some((j) => j.id === job.id));
  const again = await trove.dlq.retry(job.id);
  assert.equal(again.status, "queued");
  assert.equal((await trove.jobs.wait(again)).status, "dead");
  await trove.dlq.delete(job.id);
  await assert.rejects(trove.dlq.get(job.id), (e) => e.status === 404);
  await trove.vaults.delete(name);
});

test("an API key over its rate limit is answered 429, and the client waits it out", async () => {
  const statuses = [];
  const counting = async (u, init) => {
    const r = await fetch(u, init);
    statuses.push(r.status);
    return r;
  };
  const impatient = new Trove(url, { apiKey: env("TROVE_TEST_KEY"), retries: NO_RETRIES, fetch: counting });
  let refused;
  for (let i = 0; i < 200 && !refused; i++) {
    await impatient.vaults.list().catch((e) => {
      refused = e;
    });
  }
  assert.equal(refused?.code, "rate_limited");
  assert.ok(refused.retryAfter >= 1);
  assert.equal(statuses.at(-1), 429);
  assert.equal(statuses.filter((s) => s === 429).length, 1);

  statuses.length = 0;
  const patient = new Trove(url, { apiKey: env("TROVE_TEST_KEY"), fetch: counting });
  const started = Date.now();
  assert.ok(Array.isArray(await patient.vaults.list()));
  assert.equal(statuses[0], 429);
  assert.equal(statuses.at(-1), 200);
  assert.ok(Date.now() - started >= 900);
});
