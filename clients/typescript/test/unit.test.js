// The client's own logic against a fake `fetch`: retries of 429 and 503 with both forms of
// `Retry-After`, giving up, bodies of other shapes, multipart bodies, the time limit.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";

import { NO_RETRIES, Trove, TroveConnectionError, TroveError, multipart } from "../src/index.js";

function flaky(statuses, headers = {}) {
  const seen = [];
  const fetch = async (url, init) => {
    seen.push({ url: String(url), init });
    const status = statuses[Math.min(seen.length - 1, statuses.length - 1)];
    if (status === 200) return Response.json([{ name: "notes", documents: 1, chunks: 2 }]);
    const body = { message: "slow down", code: status === 429 ? "rate_limited" : "unavailable", type: "system", link: "x" };
    return Response.json(body, { status, headers });
  };
  return { seen, fetch };
}

test("a 503 with an HTTP date in Retry-After is retried", async () => {
  const { seen, fetch } = flaky([503, 200], { "retry-after": new Date(Date.now() + 1000).toUTCString() });
  const vaults = await new Trove("http://trove.test", { fetch }).vaults.list();
  assert.equal(vaults[0].chunks, 2);
  assert.equal(seen.length, 2);
});

test("a 429 without Retry-After backs off, then gives up with the code", async () => {
  const { seen, fetch } = flaky([429]);
  const t = new Trove("http://trove.test", { fetch, retries: { attempts: 3, base: 0.01, maxBackoff: 0.02, maxWait: 60 } });
  await assert.rejects(t.vaults.list(), (e) => e instanceof TroveError && e.code === "rate_limited" && e.status === 429);
  assert.equal(seen.length, 3);
});

test("a Retry-After longer than maxWait is not waited for", async () => {
  const { seen, fetch } = flaky([429, 200], { "retry-after": "3600" });
  const t = new Trove("http://trove.test", { fetch, retries: { attempts: 4, base: 0.25, maxBackoff: 8, maxWait: 10 } });
  await assert.rejects(t.vaults.list(), (e) => e.retryAfter === 3600);
  assert.equal(seen.length, 1);
});

test("other statuses are not retried and odd bodies still throw", async () => {
  let calls = 0;
  const fetch = async () => {
    calls++;
    return new Response("<html>bad gateway</html>", { status: 502 });
  };
  await assert.rejects(new Trove("http://trove.test", { fetch }).vaults.get("notes"), (e) => e.code === "http_502" && e.detail.includes("bad gateway"));
  assert.equal(calls, 1);
});

test("queries drop empty values and repeat arrays; keys go in Authorization", async () => {
  const { seen, fetch } = flaky([200]);
  const t = new Trove("http://trove.test/", { fetch, apiKey: "tk_x" });
  await t.request("GET", "/v1/vaults/a%20b/memories", { query: { tag: ["x", "y"], user_id: undefined, limit: 5 } });
  assert.equal(seen[0].url, "http://trove.test/v1/vaults/a%20b/memories?tag=x&tag=y&limit=5");
  assert.equal(seen[0].init.headers.authorization, "Bearer tk_x");
});

test("multipart bodies name each file, the format first", async () => {
  const { body, contentType } = await multipart([{ name: "a.md", content: "# A" }, { name: 'b"q.txt', content: new Uint8Array([98]) }], "markdown");
  const text = new TextDecoder().decode(body);
  const boundary = contentType.split("boundary=")[1];
  const parts = text.split(`--${boundary}`);
  assert.match(parts[1], /name="format"\r\n\r\nmarkdown/);
  assert.match(parts[2], /filename="a\.md"/);
  assert.match(parts[3], /filename="b\\"q\.txt"/);
  assert.ok(text.endsWith(`--${boundary}--\r\n`));
});

test("a server that never answers hits the time limit", async () => {
  const server = createServer(() => {});
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const t = new Trove(`http://127.0.0.1:${server.address().port}`, { timeout: 0.3, retries: NO_RETRIES });
    const started = Date.now();
    await assert.rejects(t.vaults.list(), (e) => e instanceof TroveConnectionError && e.timeout);
    assert.ok(Date.now() - started < 5000);
  } finally {
    server.closeAllConnections?.();
    server.close();
  }
});
