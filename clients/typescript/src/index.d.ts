// Types of `index.js`: the client, its options, and the server's JSON answers (the schemas of
// `/openapi.json`, fields as the server spells them).

export declare const VERSION: string;

export interface RetryPolicy {
  /** Tries in all (1 = no retries). */
  attempts: number;
  /** First backoff, in seconds, when no `Retry-After` is sent. */
  base: number;
  /** Longest backoff, in seconds. */
  maxBackoff: number;
  /** Longest `Retry-After` waited for, in seconds; a longer one throws at once. */
  maxWait: number;
}
export declare const DEFAULT_RETRIES: Readonly<RetryPolicy>;
export declare const NO_RETRIES: Readonly<RetryPolicy>;
export declare function retryWait(policy: RetryPolicy, attempt: number, retryAfter: number | null): number | null;
export declare function parseRetryAfter(value: string | null): number | null;

export interface TroveOptions {
  /** An API key (`trove admin create-key`, `POST /v1/keys`). */
  apiKey?: string;
  /** A session token (see `Trove.login`) or a signed token. */
  token?: string;
  /** Time limit of each attempt, in seconds (default 30). */
  timeout?: number;
  retries?: RetryPolicy;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
}

export declare class TroveError extends Error {
  status: number;
  /** Trove's stable error code, e.g. `vault_not_found`, `rate_limited`. */
  code: string;
  /** The server's message: what was wrong, where, and how to fix it. */
  detail: string;
  type: string;
  link: string;
  requestId: string | null;
  retryAfter: number | null;
}
export declare class TroveConnectionError extends Error {
  timeout: boolean;
}

export type SearchMode = "hybrid" | "semantic" | "keyword";
export interface SearchFilters {
  source?: string;
  uri_prefix?: string;
  metadata?: Record<string, unknown>;
}
export interface Vault {
  name: string;
  documents: number;
  chunks: number;
  model: string | null;
  dimension: number | null;
  configured: boolean;
  [more: string]: unknown;
}
export interface SearchHit {
  vault: string;
  source: string;
  uri: string;
  title: string;
  text: string;
  snippet: string;
  score: number;
  chunk_id: number;
  chunk_index: number;
  document_id: number;
  heading_path: string[];
}
export interface SearchResponse {
  query: string;
  mode: SearchMode;
  hits: SearchHit[];
}
export interface JobError {
  code: string;
  message: string;
}
export interface Job {
  id: string;
  kind: "upload" | "sync" | "reembed" | string;
  status: "queued" | "running" | "succeeded" | "dead" | "cancelled";
  vault: string | null;
  attempts: number;
  max_attempts: number;
  created_at: string;
  finished_at: string | null;
  cancel_requested: boolean;
  error: JobError | null;
  result: unknown;
  progress: { done: number; total: number } | null;
  [more: string]: unknown;
}
export interface Memory {
  id: string;
  vault: string;
  text: string;
  user_id: string | null;
  agent_id: string | null;
  session_id: string | null;
  tags: string[];
  importance: number;
  metadata: unknown;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
}
export interface MemoryHit extends Memory {
  score: number;
}
export interface MemoryFields {
  user_id?: string;
  agent_id?: string;
  session_id?: string;
  tags?: string[];
  importance?: number;
  metadata?: Record<string, unknown>;
  expires_at?: string;
}
export interface MemoryScope {
  userId?: string;
  agentId?: string;
  sessionId?: string;
  tags?: string[];
}
export interface Document {
  id: number;
  uri: string;
  title: string;
  source: string;
  chunks: number;
  tokens: number;
  content_hash: string;
  indexed_at: string;
  modified_at: string | null;
}
export interface DocumentDetail {
  document: Document;
  metadata: unknown;
  chunks: Array<Record<string, unknown>>;
}
export interface Citation {
  n: number;
  uri: string;
  url: string | null;
  title: string;
  snippet: string;
  chunk_id: number;
  document_id: number;
  heading_path: string[];
}
export interface Answer {
  answer: string;
  citations: Citation[];
  usage: Record<string, number>;
  model: string | null;
  retrieval_ms: number;
  generation_ms: number;
}
export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last. */
  nextCursor: string | null;
}
export interface UploadFile {
  /** The file name, which becomes its uri in the vault's `uploads` source. */
  name: string;
  content: string | Uint8Array | ArrayBuffer | Blob;
}
export type Progress = (sent: number, total: number) => void;
export interface JobQuery {
  status?: string;
  kind?: string;
  vault?: string;
  cursor?: string;
  limit?: number;
}

export declare function multipart(files: UploadFile[], format?: string): Promise<{ body: Uint8Array; contentType: string }>;

export declare class Trove {
  constructor(baseUrl: string, options?: TroveOptions);
  static login(baseUrl: string, email: string, password: string, options?: TroveOptions & { organization?: string }): Promise<Trove>;
  readonly baseUrl: string;
  vaults: {
    list(): Promise<Vault[]>;
    get(vault: string): Promise<Vault>;
    create(name: string): Promise<Vault>;
    delete(vault: string): Promise<null>;
    status(vault: string): Promise<Record<string, unknown>>;
  };
  documents: {
    list(vault: string, page?: { cursor?: string; limit?: number }): Promise<Page<Document>>;
    get(vault: string, id: number): Promise<DocumentDetail>;
    delete(vault: string, id: number): Promise<null>;
    upload(vault: string, files: UploadFile[], options?: { format?: string; progress?: Progress }): Promise<Job>;
    addTexts(vault: string, documents: Array<{ uri: string; text: string; format?: string }>): Promise<Job>;
  };
  memories: {
    add(vault: string, text: string, fields?: MemoryFields): Promise<Memory>;
    get(vault: string, id: string): Promise<Memory>;
    list(vault: string, scope?: MemoryScope & { cursor?: string; limit?: number }): Promise<Page<Memory>>;
    retrieve(vault: string, query: string, scope?: MemoryScope & { limit?: number; mode?: SearchMode }): Promise<MemoryHit[]>;
    update(vault: string, id: string, changes: Partial<Pick<Memory, "text" | "tags" | "importance" | "metadata" | "expires_at">>): Promise<Memory>;
    delete(vault: string, id: string): Promise<null>;
    stats(vault: string): Promise<Record<string, unknown>>;
  };
  jobs: {
    list(query?: JobQuery): Promise<Page<Job>>;
    get(id: string): Promise<Job>;
    cancel(id: string): Promise<Job>;
    wait(job: Job | string, options?: { timeout?: number; interval?: number }): Promise<Job>;
  };
  dlq: {
    list(query?: Omit<JobQuery, "status">): Promise<Page<Job>>;
    get(id: string): Promise<Job>;
    retry(id: string): Promise<Job>;
    delete(id: string): Promise<null>;
  };
  search(vault: string, query: string, options?: { limit?: number; mode?: SearchMode; filters?: SearchFilters }): Promise<SearchResponse>;
  answer(vault: string, question: string, options?: { limit?: number; mode?: SearchMode; filters?: SearchFilters }): Promise<Answer>;
  me(): Promise<Record<string, unknown>>;
  logout(): Promise<null>;
  wait(job: Job | string, options?: { timeout?: number; interval?: number }): Promise<Job>;
  request<T = unknown>(
    method: string,
    path: string,
    options?: { json?: unknown; body?: Uint8Array; contentType?: string; progress?: Progress; query?: Record<string, unknown> },
  ): Promise<T>;
}
