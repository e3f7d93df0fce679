// Trove's REST API over `fetch`, for Node 20 and browsers: `Trove` with resources (vaults,
// documents, memories, jobs, dlq) and calls (search, answer), API key or session auth,
// retries of 429 and 503 answers honouring `Retry-After`, a time limit per attempt, upload
// progress, and `TroveError` carrying the server's `code`. Types: `index.d.ts` beside this file.

export const VERSION = "0.1.0";

/** The server refused or failed a request; `code` is Trove's stable error code. */
export class TroveError extends Error {
  constructor(status, code, message, { type = "", link = "", requestId = null, retryAfter = null } = {}) {
    super(`${code} (HTTP ${status}): ${message}`);
    this.name = "TroveError";
    this.status = status;
    this.code = code;
    this.detail = message;
    this.type = type;
    this.link = link;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

/** No answer came: the server could not be reached, or not within the time limit. */
export class TroveConnectionError extends Error {
  constructor(message, { timeout = false, cause } = {}) {
    super(message, { cause });
    this.name = "TroveConnectionError";
    this.timeout = timeout;
  }
}

/** Retries of 429 and 503: `attempts` tries in all; `Retry-After` waited when sent (up to
 * `maxWait` seconds, else the error is thrown at once), else `base * 2^n` s with jitter. */
export const DEFAULT_RETRIES = Object.freeze({ attempts: 4, base: 0.25, maxBackoff: 8, maxWait: 60 });
export const NO_RETRIES = Object.freeze({ ...DEFAULT_RETRIES, attempts: 1 });

/** Seconds to wait before try `attempt + 1`, or null to give up. */
export function retryWait(policy, attempt, retryAfter) {
  if (attempt >= policy.attempts) return null;
  if (retryAfter != null) return retryAfter <= policy.maxWait ? retryAfter : null;
  const backoff = Math.min(policy.maxBackoff, policy.base * 2 ** (attempt - 1));
  return backoff * (0.5 + Math.random() / 2);
}

/** `Retry-After` in seconds, given as seconds or as an HTTP date. */
export function parseRetryAfter(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, (when - Date.now()) / 1000);
}

const CHUNK = 64 * 1024;
const encoder = new TextEncoder();
const seg = (v) => encodeURIComponent(String(v));
const sleep = (s) => new Promise((resolve) => setTimeout(resolve, s * 1000));
const present = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));

/** A `multipart/form-data` body of `files` (`{name, content}` with a string, bytes or a
 * Blob) and a `format` part first when given: `{body, contentType}`. */
export async function multipart(files, format) {
  const boundary = `trove-${crypto.randomUUID().replaceAll("-", "")}`;
  const pieces = [];
  const part = (disposition, content, type) => {
    let head = `--${boundary}\r\nContent-Disposition: form-data; ${disposition}\r\n`;
    if (type) head += `Content-Type: ${type}\r\n`;
    pieces.push(encoder.encode(head + "\r\n"), content, encoder.encode("\r\n"));
  };
  if (format) part('name="format"', encoder.encode(format));
  for (const f of files) {
    const content =
      typeof f.content === "string"
        ? encoder.encode(f.content)
        : f.content instanceof Blob
          ? new Uint8Array(await f.content.arrayBuffer())
          : new Uint8Array(f.content);
    const name = f.name.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
    part(`name="file"; filename="${name}"`, content, "application/octet-stream");
  }
  pieces.push(encoder.encode(`--${boundary}--\r\n`));
  const body = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    body.set(p, at);
    at += p.length;
  }
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** A stream of `body` in pieces, reporting each one read to `progress(sent, total)`. */
function reporting(body, progress) {
  let sent = 0;
  progress(0, body.length);
  return new ReadableStream({
    pull(controller) {
      if (sent >= body.length) {
        controller.close();
        return;
      }
      const piece = body.subarray(sent, sent + CHUNK);
      sent += piece.length;
      controller.enqueue(piece);
      progress(sent, body.length);
    },
  });
}

const page = (key) => (d) => ({ items: d[key] ?? [], nextCursor: d.next_cursor ?? null });

/** A client of one Trove server. */
export class Trove {
  /**
   * @param {string} baseUrl e.g. `http://127.0.0.1:7700`
   * @param {import("./index.d.ts").TroveOptions} [options]
   */
  constructor(baseUrl, { apiKey, token, timeout = 30, retries = DEFAULT_RETRIES, fetch: f } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.retries = retries;
    this.timeout = timeout;
    this.secret = apiKey ?? token ?? null;
    this.fetch = f ?? globalThis.fetch.bind(globalThis);
    const v = (name) => `/v1/vaults/${seg(name)}`;
    this.vaults = {
      list: () => this.request("GET", "/v1/vaults"),
      get: (vault) => this.request("GET", v(vault)),
      create: (name) => this.request("POST", "/v1/vaults", { json: { name } }),
      delete: (vault) => this.request("DELETE", v(vault)),
      status: (vault) => this.request("GET", `${v(vault)}/status`),
    };
    this.documents = {
      list: (vault, { cursor, limit } = {}) =>
        this.request("GET", `${v(vault)}/documents`, { query: { cursor, limit } }).then(page("documents")),
      get: (vault, id) => this.request("GET", `${v(vault)}/documents/${seg(id)}`),
      delete: (vault, id) => this.request("DELETE", `${v(vault)}/documents/${seg(id)}`),
      upload: async (vault, files, { format, progress } = {}) => {
        if (!files.length) throw new TypeError("upload needs at least one file");
        const { body, contentType } = await multipart(files, format);
        return this.request("POST", `${v(vault)}/documents`, { body, contentType, progress });
      },
      addTexts: (vault, documents) => this.request("POST", `${v(vault)}/documents`, { json: { documents } }),
    };
    this.memories = {
      add: (vault, text, fields = {}) => this.request("POST", `${v(vault)}/memories`, { json: present({ ...fields, text }) }),
      get: (vault, id) => this.request("GET", `${v(vault)}/memories/${seg(id)}`),
      list: (vault, { userId, agentId, sessionId, tags, cursor, limit } = {}) =>
        this.request("GET", `${v(vault)}/memories`, {
          query: { user_id: userId, agent_id: agentId, session_id: sessionId, tag: tags, cursor, limit },
        }).then(page("memories")),
      retrieve: (vault, query, { limit, mode, userId, agentId, sessionId, tags } = {}) =>
        this.request("POST", `${v(vault)}/memories/retrieve`, {
          json: present({ query, limit, mode, user_id: userId, agent_id: agentId, session_id: sessionId, tags }),
        }).then((d) => d.hits),
      update: (vault, id, changes) => this.request("PATCH", `${v(vault)}/memories/${seg(id)}`, { json: changes }),
      delete: (vault, id) => this.request("DELETE", `${v(vault)}/memories/${seg(id)}`),
      stats: (vault) => this.request("GET", `${v(vault)}/memories/stats`),
    };
    this.jobs = {
      list: (query = {}) => this.request("GET", "/v1/jobs", { query }).then(page("jobs")),
      get: (id) => this.request("GET", `/v1/jobs/${seg(id)}`),
      cancel: (id) => this.request("POST", `/v1/jobs/${seg(id)}/cancel`),
      wait: (job, opts) => this.wait(job, opts),
    };
    this.dlq = {
      list: (query = {}) => this.request("GET", "/v1/dlq", { query }).then(page("jobs")),
      get: (id) => this.request("GET", `/v1/dlq/${seg(id)}`),
      retry: (id) => this.request("POST", `/v1/dlq/${seg(id)}/retry`),
      delete: (id) => this.request("DELETE", `/v1/dlq/${seg(id)}`),
    };
  }

  /** Logs in with an account's email and password (an `sdk` session); answers a client that
   * sends the session's token. */
  static async login(baseUrl, email, password, { organization, ...options } = {}) {
    const anonymous = new Trove(baseUrl, options);
    const body = present({ email, password, client: "sdk", organization });
    const answer = await anonymous.request("POST", "/v1/auth/login", { json: body });
    return new Trove(baseUrl, { ...options, token: answer.token });
  }

  /** Searches a vault's documents: `{query, mode, hits}`. */
  search(vault, query, { limit, mode, filters } = {}) {
    return this.request("POST", `/v1/vaults/${seg(vault)}/search`, { json: present({ query, limit, mode, filters }) });
  }

  /** An answer from the server's chat model citing the vault's chunks (`chat_not_configured`
   * when the server has none). */
  answer(vault, question, { limit, mode, filters } = {}) {
    return this.request("POST", `/v1/vaults/${seg(vault)}/answer`, { json: present({ question, limit, mode, filters }) });
  }

  /** Who the caller is. */
  me() {
    return this.request("GET", "/v1/auth/me");
  }

  /** Ends the session this client logged in with. */
  logout() {
    return this.request("POST", "/v1/auth/logout");
  }

  /** Polls a job (or its id) until it is no longer queued or running; answers it. */
  async wait(job, { timeout = 300, interval = 0.2 } = {}) {
    const id = typeof job === "string" ? job : job.id;
    const deadline = Date.now() + timeout * 1000;
    for (;;) {
      const current = await this.jobs.get(id);
      if (current.status !== "queued" && current.status !== "running") return current;
      if (Date.now() > deadline) throw new TroveError(0, "timeout", `job ${id} is still ${current.status} after ${timeout} s`);
      await sleep(interval);
    }
  }

  /** One request: `json` or raw `body` (with `contentType`, `progress`), `query` (undefined
   * and null dropped, arrays repeated). Retries 429 and 503; answers the parsed body (null
   * for none) or throws `TroveError` / `TroveConnectionError`. */
  async request(method, path, { json, body, contentType, progress, query } = {}) {
    const url = new URL(this.baseUrl + path);
    for (const [k, value] of Object.entries(query ?? {})) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item !== undefined && item !== null) url.searchParams.append(k, String(item));
      }
    }
    const headers = { accept: "application/json" };
    if (this.secret) headers.authorization = `Bearer ${this.secret}`;
    if (json !== undefined) {
      body = encoder.encode(JSON.stringify(json));
      contentType = "application/json";
    }
    if (body !== undefined) headers["content-type"] = contentType ?? "application/octet-stream";
    for (let attempt = 1; ; attempt++) {
      const init = { method, headers, signal: AbortSignal.timeout(this.timeout * 1000) };
      if (body !== undefined) {
        if (progress) {
          init.body = reporting(body, progress);
          init.duplex = "half";
        } else {
          init.body = body;
        }
      }
      let response;
      try {
        response = await this.fetch(url, init);
      } catch (e) {
        const timeout = e?.name === "TimeoutError" || e?.name === "AbortError";
        const why = timeout ? `no answer within ${this.timeout} s` : `cannot reach ${this.baseUrl}: ${e?.cause?.message ?? e}`;
        throw new TroveConnectionError(`${method} ${path}: ${why}`, { timeout, cause: e });
      }
      const retryAfter = parseRetryAfter(response.headers.get("retry-after"));
      if (response.status === 429 || response.status === 503) {
        const wait = retryWait(this.retries, attempt, retryAfter);
        if (wait !== null) {
          await response.body?.cancel();
          await sleep(wait);
          continue;
        }
      }
      const text = await response.text();
      if (response.status >= 400) {
        let parsed = null;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not Trove's JSON: a proxy's page, say; reported as http_<status> below
        }
        const requestId = response.headers.get("x-request-id");
        if (parsed && typeof parsed.code === "string") {
          throw new TroveError(response.status, parsed.code, parsed.message ?? "", {
            type: parsed.type,
            link: parsed.link,
            requestId,
            retryAfter,
          });
        }
        throw new TroveError(response.status, `http_${response.status}`, text.slice(0, 500), { requestId, retryAfter });
      }
      return text ? JSON.parse(text) : null;
    }
  }
}
