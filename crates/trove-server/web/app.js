// Trove's web page: a small single-page application over the /v1 API, without a framework or
// a build step. Views are chosen by the URL fragment (#/search, #/doc/7, ...), so links and
// the back button work and the server only serves three files. Every element is built with
// `h` from text (never from HTML strings), so nothing a document or memory contains can run.
'use strict';

const state = {
  me: null,
  csrf: sessionStorage.getItem('trove.csrf'),
  vaults: [],
  vault: localStorage.getItem('trove.vault') || '',
  timers: [],
  link: null,
};

// ---------------------------------------------------------------- helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const svg = (tag, attrs) => {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
};

let fieldId = 0;
/** A labelled input (or select/textarea when `control` is given). */
function field(label, control, grow) {
  const id = control.id || `f${++fieldId}`;
  control.id = id;
  return h('div', { class: grow ? 'field grow' : 'field' }, h('label', { for: id }, label), control);
}

function toast(text, isError) {
  const box = document.getElementById('toast');
  const item = h('div', { class: isError ? 'error' : null }, text);
  box.append(item);
  setTimeout(() => item.remove(), isError ? 8000 : 4000);
}

function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

function badge(status) {
  return h('span', { class: `badge s-${status}` }, status);
}

/** Text with `**matched**` terms as <mark>. */
function highlighted(snippet) {
  return snippet.split('**').map((part, i) => (i % 2 ? h('mark', null, part) : part));
}

function vaultPath(rest) {
  return `/v1/vaults/${encodeURIComponent(state.vault)}${rest || ''}`;
}

const LEVEL_ALLOWS = {
  read: ['search', 'memories.read', 'jobs'],
  write: ['search', 'memories.read', 'jobs', 'documents.write', 'memories.write'],
  admin: ['search', 'memories.read', 'jobs', 'documents.write', 'memories.write', 'admin'],
};

/** Whether the caller may do `action`; with `inVault`, in the current vault (a member's grant decides). */
function can(action, inVault) {
  const me = state.me;
  if (!me) return false;
  if (inVault && me.grants) {
    const level = me.grants[state.vault];
    return !!level && LEVEL_ALLOWS[level].includes(action);
  }
  return me.actions.includes('admin') || me.actions.includes(action) || (action === 'memories.read' && me.actions.includes('memories.write'));
}

/** An error, with a link to its code's entry in the server's error reference (/docs/errors). */
function errorBox(e) {
  if (!(e instanceof ApiError)) return h('div', { class: 'error-box', role: 'alert' }, String(e.message || e));
  const more = e.link ? [' ', h('a', { href: e.link, target: '_blank', rel: 'noopener' }, 'What to do')] : [];
  return h('div', { class: 'error-box', role: 'alert' }, `${e.message} (${e.code})`, more);
}

// ---------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.code || 'http_' + status;
    // Only a server's error reference is linked (people follow the link).
    this.link = typeof body.link === 'string' && new URL(body.link, location.href).pathname.endsWith('/docs/errors') ? body.link : null;
  }
}

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && state.csrf) headers['x-csrf-token'] = state.csrf;
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (r.status === 204) return null;
  const text = await r.text();
  let data;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!r.ok) {
    const err = new ApiError(r.status, data);
    if (r.status === 401 && !path.startsWith('/v1/auth/login')) {
      state.me = null;
      showLogin(err.message);
    }
    throw err;
  }
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else if (v !== '' && v !== null && v !== undefined) q.append(k, v);
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Prometheus text as a list of {name, labels, value}. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)$/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function metricSum(metrics, name, filter) {
  return metrics
    .filter((m) => m.name === name && (!filter || filter(m.labels)))
    .reduce((a, m) => a + m.value, 0);
}

// ---------------------------------------------------------------- shell

const main = () => document.getElementById('main');

function clearTimers() {
  state.timers.forEach(clearInterval);
  state.timers = [];
}

function every(ms, fn) {
  state.timers.push(setInterval(fn, ms));
}

function render(...children) {
  const m = main();
  m.replaceChildren();
  append(m, children);
}

function setShell() {
  const me = state.me;
  const signedIn = !!me;
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('tools').hidden = !signedIn;
  if (!signedIn) return;
  document.querySelector('nav a[data-view="admin"]').hidden = !can('admin');
  document.getElementById('who').textContent =
    me.kind === 'local' ? 'authentication off' : `${me.email || me.kind} · ${me.organization || ''}`;
  document.getElementById('logout').hidden = me.kind !== 'session';
  const select = document.getElementById('vault');
  select.replaceChildren(...state.vaults.map((v) => h('option', { value: v.name }, v.name)));
  select.value = state.vault;
}

async function boot() {
  // Links from mail work without a session.
  const [linkPath, linkQuery] = location.hash.slice(1).split('?');
  if (linkPath === '/verify' || linkPath === '/reset' || linkPath === '/invite') {
    accountLink(linkPath.slice(1), new URLSearchParams(linkQuery || '').get('token') || '');
    return;
  }
  try {
    state.me = await api('GET', '/v1/auth/me');
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 401)) render(errorBox(e));
    return;
  }
  if (state.me.csrf_token) {
    state.csrf = state.me.csrf_token;
    sessionStorage.setItem('trove.csrf', state.csrf);
  }
  await loadVaults();
  setShell();
  route();
}

async function loadVaults() {
  try {
    state.vaults = await api('GET', '/v1/vaults');
  } catch {
    state.vaults = [];
  }
  if (!state.vaults.some((v) => v.name === state.vault)) {
    state.vault = state.vaults.length ? state.vaults[0].name : '';
  }
}

/** The page a mailed link opens: verify the address, or choose a new password. */
function accountLink(kind, token) {
  // Shown already (a hash change and a boot both route here): keep what was typed.
  if (state.link === `${kind}:${token}` && main().querySelector('[data-link]')) return;
  state.link = `${kind}:${token}`;
  clearTimers();
  setShell();
  const status = h('div', { role: 'alert' });
  const done = (text) => {
    history.replaceState(null, '', '#/search');
    status.replaceChildren(h('p', { class: 'notice' }, text, ' ', h('a', { href: '#/search', onclick: (ev) => { ev.preventDefault(); boot(); } }, 'Log in')));
  };
  if (kind === 'verify') {
    render(h('section', { class: 'panel login', 'data-link': kind }, h('h1', null, 'Confirm your email'), status));
    api('POST', '/v1/auth/verify-email', { token }).then((r) => done(`${r.email} is confirmed.`), (e) => status.replaceChildren(errorBox(e)));
    return;
  }
  if (kind === 'invite') {
    const pw = h('input', { type: 'password', name: 'new-password', autocomplete: 'new-password', minlength: 12 });
    const form = h('form', {
      onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          const r = await api('POST', '/v1/auth/accept-invitation', { token, password: pw.value || undefined });
          form.remove();
          done(`${r.email} joined ${r.organization} as ${r.role}.`);
        } catch (e) {
          status.replaceChildren(errorBox(e));
        }
      },
    }, field('Password for your new account (leave empty if you already have one)', pw), h('button', { type: 'submit' }, 'Accept the invitation'));
    render(h('section', { class: 'panel login', 'data-link': kind }, h('h1', null, 'Join an organization'), form, status));
    pw.focus();
    return;
  }
  const password = h('input', { type: 'password', name: 'new-password', autocomplete: 'new-password', required: true, minlength: 12 });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/v1/auth/password-reset/confirm', { token, password: password.value });
        form.remove();
        done('Your password is changed, and every session you had has ended.');
      } catch (e) {
        status.replaceChildren(errorBox(e));
      }
    },
  }, field('New password (at least 12 characters)', password), h('button', { type: 'submit' }, 'Set password'));
  render(h('section', { class: 'panel login', 'data-link': kind }, h('h1', null, 'Choose a new password'), form, status));
  password.focus();
}

function forgotPassword(email) {
  const input = h('input', { type: 'email', name: 'reset-email', autocomplete: 'username', required: true, value: email });
  const status = h('div', { role: 'alert' });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/v1/auth/password-reset', { email: input.value });
        form.remove();
        status.replaceChildren(h('p', { class: 'notice' }, `If ${input.value} has an account, a link to choose a new password is on its way.`));
      } catch (e) {
        status.replaceChildren(errorBox(e));
      }
    },
  }, field('Email', input), h('button', { type: 'submit' }, 'Mail me a reset link'));
  render(h('section', { class: 'panel login' }, h('h1', null, 'Forgot your password?'), form, status,
    h('p', null, h('a', { href: '#/search', onclick: (ev) => { ev.preventDefault(); showLogin(); } }, 'Back to log in'))));
  input.focus();
}

function showLogin(message) {
  clearTimers();
  setShell();
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const org = h('input', { type: 'text', name: 'organization', placeholder: 'your first' });
  const status = h('div', { role: 'alert' }, message ? h('p', { class: 'error' }, message) : null);
  const form = h(
    'form',
    {
      onsubmit: async (ev) => {
        ev.preventDefault();
        status.replaceChildren();
        try {
          const r = await api('POST', '/v1/auth/login', {
            email: email.value,
            password: password.value,
            organization: org.value || undefined,
            client: 'web',
          });
          state.csrf = r.csrf_token;
          sessionStorage.setItem('trove.csrf', state.csrf);
          // The session cookie is Secure: browsers keep it only over HTTPS or on localhost.
          const kept = await fetch('/v1/auth/me', { credentials: 'same-origin' });
          if (kept.status === 401) {
            status.replaceChildren(h('div', { class: 'error-box', role: 'alert' },
              'You are logged in, but this browser did not keep the session cookie: it is only sent over HTTPS. ',
              'Serve Trove with TLS (tls.cert_file and tls.key_file in config.yaml) or open it on localhost.'));
            return;
          }
          // replaceState fires no hashchange: boot() renders the view once.
          if (!location.hash || location.hash.startsWith('#/login')) history.replaceState(null, '', '#/search');
          await boot();
        } catch (e) {
          status.replaceChildren(errorBox(e));
          password.select();
        }
      },
    },
    field('Email', email),
    field('Password', password),
    field('Organization (optional)', org),
    h('button', { type: 'submit' }, 'Log in'),
    h('button', { type: 'button', class: 'link', onclick: () => forgotPassword(email.value) }, 'Forgot your password?'),
    status,
  );
  render(h('section', { class: 'panel login' }, h('h1', null, 'Log in to Trove'), form));
  email.focus();
}

const views = {};

function route() {
  const hash = location.hash.slice(1) || '/search';
  const [path, qs] = hash.split('?');
  const parts = path.split('/').filter(Boolean);
  const name = parts[0] || 'search';
  const params = new URLSearchParams(qs || '');
  // A mailed link opened in a tab that already shows the page.
  if (['verify', 'reset', 'invite'].includes(name)) {
    accountLink(name, params.get('token') || '');
    return;
  }
  if (!state.me) return;
  clearTimers();
  document.querySelectorAll('nav a').forEach((a) => {
    const current = a.dataset.view === name || (name === 'doc' && a.dataset.view === 'search');
    if (current) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
  const view = views[name] || views.search;
  document.title = `Trove · ${name}`;
  Promise.resolve(view(params, parts.slice(1))).catch((e) => {
    if (!(e instanceof ApiError && e.status === 401)) render(errorBox(e));
  });
}

function needVault() {
  if (state.vault) return false;
  render(
    h('h1', null, 'No vault yet'),
    h('p', { class: 'notice' }, 'Configure one under vaults: in config.yaml and run trove ingest, or create one with POST /v1/vaults.'),
  );
  return true;
}

// ---------------------------------------------------------------- search

views.search = async (params) => {
  if (needVault()) return;
  const q = h('input', { type: 'search', name: 'q', value: params.get('q') || '', autocomplete: 'off' });
  const mode = h('select', { name: 'mode' }, ['hybrid', 'semantic', 'keyword'].map((m) => h('option', { value: m }, m)));
  mode.value = params.get('mode') || 'hybrid';
  const source = h('select', { name: 'source' }, h('option', { value: '' }, 'all sources'));
  const prefix = h('input', { type: 'text', name: 'prefix', value: params.get('prefix') || '', placeholder: 'guides/' });
  const meta = h('input', { type: 'text', name: 'meta', value: params.get('meta') || '', placeholder: 'team=platform' });
  const limit = h('select', { name: 'limit' }, [10, 20, 50].map((n) => h('option', { value: n }, n)));
  limit.value = params.get('limit') || '10';
  const results = h('div', { 'aria-live': 'polite' });
  const form = h(
    'form',
    {
      class: 'row panel',
      role: 'search',
      onsubmit: (ev) => {
        ev.preventDefault();
        location.hash = '#/search' + query({ q: q.value, mode: mode.value, source: source.value, prefix: prefix.value, meta: meta.value.trim(), limit: limit.value });
      },
    },
    field('Search', q, true),
    field('Mode', mode),
    field('Source', source),
    field('URI prefix', prefix),
    field('Metadata (key=value, comma separated)', meta),
    field('Hits', limit),
    h('button', { type: 'submit' }, 'Search'),
  );
  render(h('h1', null, `Search ${state.vault}`), form, results);
  q.focus();
  api('GET', vaultPath('/sources')).then((sources) => {
    sources.forEach((s) => source.append(h('option', { value: s.name }, s.name)));
    source.value = params.get('source') || '';
  }, () => {});
  if (!params.get('q')) {
    results.append(h('p', { class: 'muted' }, 'Hybrid search combines keywords (BM25) and meaning (vectors). Matched terms are highlighted.'));
    return;
  }
  const started = performance.now();
  const filters = {};
  if (params.get('source')) filters.source = params.get('source');
  if (params.get('prefix')) filters.uri_prefix = params.get('prefix');
  if (params.get('meta')) {
    filters.metadata = {};
    for (const pair of params.get('meta').split(',')) {
      const [k, ...v] = pair.split('=');
      if (!k.trim() || !v.length) {
        results.append(h('div', { class: 'error-box', role: 'alert' }, `Metadata filter “${pair}” is not key=value (for example team=platform).`));
        return;
      }
      const value = v.join('=').trim();
      // Front matter may hold numbers and booleans; the filter matches by JSON value.
      filters.metadata[k.trim()] = value === 'true' ? true : value === 'false' ? false : value !== '' && !isNaN(value) ? Number(value) : value;
    }
  }
  try {
    const r = await api('POST', vaultPath('/search'), {
      query: params.get('q'),
      mode: params.get('mode') || 'hybrid',
      limit: Number(params.get('limit') || 10),
      filters,
      // One result per document: its best passage, with how many others matched.
      group_by: 'document',
    });
    const ms = Math.round(performance.now() - started);
    results.append(
      h('p', { class: 'muted small' }, `${r.hits.length} result${r.hits.length === 1 ? '' : 's'} · ${r.mode} · ${ms} ms`),
      h('ol', { class: 'hits' }, r.hits.map((hit) => h('li', { class: 'hit' },
        h('h3', null, h('a', { href: `#/doc/${hit.document_id}?chunk=${hit.chunk_id}` }, hit.title || hit.uri)),
        h('div', { class: 'meta' },
          h('span', null, hit.source),
          h('span', { class: 'mono' }, hit.uri),
          hit.heading_path.length ? h('span', null, hit.heading_path.join(' › ')) : null,
          h('span', null, `score ${hit.score.toFixed(3)}`)),
        h('p', null, highlighted(hit.snippet)),
        hit.other_chunks ? h('p', { class: 'muted small' }, `+${hit.other_chunks} more matching passage${hit.other_chunks === 1 ? '' : 's'} in this document`) : null))),
    );
    if (!r.hits.length) results.append(h('p', { class: 'notice' }, 'Nothing matched. Try another mode, fewer words, or no filters.'));
  } catch (e) {
    if (e.status !== 401) results.append(errorBox(e));
  }
};

views.doc = async (params, rest) => {
  if (needVault()) return;
  const d = await api('GET', vaultPath(`/documents/${encodeURIComponent(rest[0])}`));
  const target = params.get('chunk');
  const doc = d.document;
  const meta = Object.entries(d.metadata || {});
  render(
    h('p', null, h('a', { href: '#/search', onclick: (ev) => { if (history.length > 1) { ev.preventDefault(); history.back(); } } }, '← Back to results')),
    h('h1', null, doc.title || doc.uri),
    h('section', { class: 'panel' },
      h('dl', { class: 'kv' },
        h('dt', null, 'Source'), h('dd', null, doc.source),
        h('dt', null, 'URI'), h('dd', { class: 'mono' }, doc.uri),
        h('dt', null, 'Chunks'), h('dd', null, `${doc.chunks} (${doc.tokens} tokens)`),
        h('dt', null, 'Indexed'), h('dd', null, when(doc.indexed_at)),
        h('dt', null, 'Modified'), h('dd', null, when(doc.modified_at)),
        meta.map(([k, v]) => [h('dt', null, k), h('dd', null, typeof v === 'string' ? v : JSON.stringify(v))]))),
    h('h2', null, 'Chunks'),
    h('ol', { class: 'chunks', start: 0 }, d.chunks.map((c) => h('li', { id: `chunk-${c.id}`, class: String(c.id) === target ? 'target' : null },
      h('div', null,
        c.heading_path.length ? h('div', { class: 'muted small' }, c.heading_path.join(' › ')) : null,
        h('pre', null, c.text))))),
  );
  const el = target && document.getElementById(`chunk-${target}`);
  if (el) el.scrollIntoView({ block: 'center' });
};

// ---------------------------------------------------------------- ask

/** The `(event, data)` pairs of Server-Sent Events as they arrive on a fetch response. */
async function* serverEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) yield [name, JSON.parse(data.join('\n'))];
    }
  }
}

/** A citation: a chunk opens its document at the chunk; a memory shows its text. */
function citationItem(c) {
  const label = `[${c.n}] `;
  if (c.kind === 'memory') {
    return h('li', { class: 'citation' }, label, h('span', null, 'Memory'), ' ', h('span', { class: 'muted small' }, c.snippet));
  }
  return h('li', { class: 'citation' },
    label,
    h('a', { href: `#/doc/${c.document_id}?chunk=${c.chunk_id}` }, c.title || c.uri),
    ' ',
    h('span', { class: 'muted small mono' }, [c.uri, ...c.heading_path].join(' › ')));
}

/** An answer's text with each `[n]` a link to its citation. */
function citedText(text, citations) {
  const byN = new Map(citations.map((c) => [String(c.n), c]));
  return text.split(/(\[\d+(?:, ?\d+)*\])/).map((part) => {
    const m = part.match(/^\[(.*)\]$/);
    if (!m) return part;
    return ['[', m[1].split(/, ?/).map((n, i) => {
      const c = byN.get(n);
      const link = c && c.kind !== 'memory' ? h('a', { href: `#/doc/${c.document_id}?chunk=${c.chunk_id}`, title: c.title }, n) : n;
      return i ? [', ', link] : link;
    }), ']'];
  });
}

function turnView(t) {
  return h('article', { class: 'panel turn' },
    h('p', { class: 'question' }, h('strong', null, t.question)),
    t.rewritten_question ? h('p', { class: 'muted small' }, `Searched as: ${t.rewritten_question}`) : null,
    h('div', { class: 'answer' }, citedText(t.answer, t.citations)),
    t.citations.length ? h('ol', { class: 'citations', 'aria-label': 'Sources' }, t.citations.map(citationItem)) : null);
}

views.ask = async (params, rest) => {
  if (needVault()) return;
  let conversation = rest[0] || null;
  const list = h('ul', { class: 'conversations' });
  const history = h('div', { class: 'history' });
  const question = h('textarea', { name: 'question', rows: 2, required: true, placeholder: 'Ask a question about this vault' });
  const memories = h('input', { type: 'checkbox', name: 'memories' });
  const send = h('button', { type: 'submit' }, 'Ask');
  const loadList = async () => {
    const page = await api('GET', vaultPath('/conversations'));
    list.replaceChildren(
      h('li', null, h('a', { href: '#/ask', 'aria-current': conversation ? null : 'page' }, '+ New conversation')),
      ...page.conversations.map((c) => h('li', null,
        h('a', { href: `#/ask/${encodeURIComponent(c.id)}`, 'aria-current': c.id === conversation ? 'page' : null }, c.title),
        h('div', { class: 'muted small' }, `${c.turns} turn${c.turns === 1 ? '' : 's'} · ${when(c.updated_at)}`))));
  };
  const form = h('form', {
    class: 'panel ask',
    onsubmit: async (ev) => {
      ev.preventDefault();
      const text = question.value.trim();
      if (!text) return;
      send.disabled = true;
      const turn = { question: text, rewritten_question: null, answer: '', citations: [] };
      const answer = h('div', { class: 'answer', 'aria-live': 'polite', 'aria-busy': 'true' });
      const sources = h('ol', { class: 'citations', 'aria-label': 'Sources' });
      const rewritten = h('p', { class: 'muted small' });
      const box = h('article', { class: 'panel turn' }, h('p', { class: 'question' }, h('strong', null, text)), rewritten, answer, sources);
      history.append(box);
      const body = { question: text, stream: true };
      if (conversation) body.conversation_id = conversation;
      if (memories.checked) body.memories = true;
      try {
        const headers = { accept: 'text/event-stream', 'content-type': 'application/json' };
        if (state.csrf) headers['x-csrf-token'] = state.csrf;
        const r = await fetch(vaultPath('/answer'), { method: 'POST', headers, body: JSON.stringify(body), credentials: 'same-origin' });
        if (!r.ok) {
          const data = await r.json().catch(() => ({}));
          throw new ApiError(r.status, data);
        }
        for await (const [name, data] of serverEvents(r)) {
          if (name === 'citations') {
            turn.citations = data.citations;
            sources.replaceChildren(...data.citations.map(citationItem));
            if (data.rewritten_question) rewritten.textContent = `Searched as: ${data.rewritten_question}`;
            if (data.conversation_id && data.conversation_id !== conversation) {
              conversation = data.conversation_id;
              history.dataset.conversation = conversation;
              // The address names the conversation without running the view again.
              window.history.replaceState(null, '', `#/ask/${encodeURIComponent(conversation)}`);
            }
          } else if (name === 'token') {
            turn.answer += data.text;
            answer.textContent = turn.answer;
          } else if (name === 'done') {
            answer.replaceChildren(...citedText(turn.answer, turn.citations).flat(Infinity));
            box.dataset.done = 'true';
          } else if (name === 'error') {
            throw new ApiError(502, data);
          }
        }
        question.value = '';
      } catch (e) {
        box.append(errorBox(e));
      } finally {
        answer.removeAttribute('aria-busy');
        send.disabled = false;
        question.focus();
        loadList().catch(() => {});
      }
    },
  },
  field('Question', question, true),
  h('div', { class: 'row' },
    h('label', { class: 'check' }, memories, ' Also use my memories'),
    send));
  render(
    h('h1', null, `Ask ${state.vault}`),
    h('div', { class: 'ask-layout' },
      h('aside', { class: 'panel', 'aria-label': 'Conversations' }, h('h2', null, 'Conversations'), list),
      h('section', null, history, form,
        h('p', { class: 'muted small' }, 'Answers come from the configured chat model, only from this vault\'s documents, citing them as [n].'))),
  );
  question.focus();
  loadList().catch((e) => list.replaceChildren(h('li', null, errorBox(e))));
  if (conversation) {
    const c = await api('GET', vaultPath(`/conversations/${encodeURIComponent(conversation)}`));
    history.dataset.conversation = conversation;
    history.replaceChildren(...c.turns.map(turnView));
  }
};

// ---------------------------------------------------------------- sources

views.sources = async () => {
  if (needVault()) return;
  const [vault, sources] = await Promise.all([api('GET', vaultPath()), api('GET', vaultPath('/sources'))]);
  const canSync = can('documents.write', true);
  const rows = sources.map((s) => {
    const sync = s.last_sync;
    const button = s.configured && canSync
      ? h('button', {
        type: 'button',
        class: 'secondary',
        'aria-label': `Sync ${s.name}`,
        onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const job = await api('POST', vaultPath(`/sources/${encodeURIComponent(s.name)}/sync`));
            toast(`Sync of ${s.name} queued as ${job.id}`);
          } catch (e) {
            toast(e.message, true);
          }
          ev.target.disabled = false;
        },
      }, 'Sync')
      : null;
    return h('tr', null,
      h('td', null, h('strong', null, s.name), h('div', { class: 'muted small' }, s.type, s.location ? ` · ${s.location}` : '')),
      h('td', { class: 'num' }, s.documents),
      h('td', null, sync ? when(sync.finished_at) : h('span', { class: 'muted' }, 'never')),
      h('td', null, sync ? `+${sync.added} ~${sync.updated} −${sync.deleted} =${sync.unchanged}` : ''),
      h('td', null, sync && sync.failed
        ? h('details', null, h('summary', { class: 'error' }, `${sync.failed} failed`), h('ul', null, sync.failures.map((f) => h('li', { class: 'small' }, f))))
        : h('span', { class: 'muted' }, '0')),
      h('td', null, button));
  });
  const reembed = vault.reembedding;
  render(
    h('h1', null, `Sources of ${vault.name}`),
    h('section', { class: 'grid' },
      stat('Documents', vault.documents), stat('Chunks', vault.chunks),
      stat('Model', vault.model || vault.configured_model, vault.dimension ? `${vault.dimension} dimensions` : ''),
      reembed ? stat('Re-embedding', `${reembed.staged_chunks}/${reembed.chunks}`, reembed.model) : null),
    h('table', null,
      h('caption', { class: 'muted small' }, 'Last sync: added (+), updated (~), deleted (−), unchanged (=).'),
      h('thead', null, h('tr', null, ['Source', 'Documents', 'Last sync', 'Changes', 'Errors', ''].map((t, i) => h('th', { class: i === 1 ? 'num' : null, scope: 'col' }, t)))),
      h('tbody', null, rows)),
  );
};

function stat(label, value, note) {
  return h('div', { class: 'panel' }, h('div', { class: 'muted small' }, label), h('div', { class: 'stat' }, String(value)), note ? h('div', { class: 'muted small' }, note) : null);
}

// ---------------------------------------------------------------- memories

views.memories = async (params) => {
  if (needVault()) return;
  const labels = { user_id: 'User', agent_id: 'Agent', session_id: 'Session', tag: 'Tag', q: 'Matching (optional)' };
  const inputs = {};
  for (const key of Object.keys(labels)) {
    inputs[key] = h('input', { type: key === 'q' ? 'search' : 'text', name: key, value: params.get(key) || '' });
  }
  const list = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    class: 'row panel',
    onsubmit: (ev) => {
      ev.preventDefault();
      const p = {};
      for (const [k, el] of Object.entries(inputs)) p[k] = el.value.trim();
      location.hash = '#/memories' + query(p);
    },
  }, Object.entries(inputs).map(([k, el]) => field(labels[k], el, k === 'q')), h('button', { type: 'submit' }, 'Filter'));
  const stats = h('div', { class: 'muted small' });
  render(h('h1', null, `Memories of ${state.vault}`), stats, form, list);
  api('GET', vaultPath('/memories/stats')).then((s) => {
    stats.textContent = `${s.total} memories · ${s.by_user.length} users · ${s.by_agent.length} agents · ${s.expired} expired · ${(s.bytes / 1024).toFixed(1)} KiB`;
  }, () => {});
  const scope = {
    user_id: params.get('user_id') || undefined,
    agent_id: params.get('agent_id') || undefined,
    session_id: params.get('session_id') || undefined,
  };
  const tags = params.get('tag') ? [params.get('tag')] : [];
  if (params.get('q')) {
    const r = await api('POST', vaultPath('/memories/retrieve'), { query: params.get('q'), scope: { ...scope, tags }, limit: 50 });
    showMemories(list, r.hits.map((x) => x.memory), null);
  } else {
    const load = async (cursor) => {
      const page = await api('GET', vaultPath('/memories') + query({ ...scope, tag: tags, cursor, limit: 50 }));
      showMemories(list, page.memories, page.next_cursor ? () => load(page.next_cursor) : null);
    };
    await load();
  }
};

function showMemories(list, memories, more) {
  list.querySelector('.more')?.remove();
  if (!memories.length && !list.children.length) {
    list.append(h('p', { class: 'notice' }, 'No memories match. Agents store them with POST /v1/vaults/{vault}/memories or the MCP tool store_memory.'));
  }
  for (const m of memories) list.append(memoryCard(m));
  if (more) list.append(h('button', { type: 'button', class: 'secondary more', onclick: more }, 'More'));
}

function memoryCard(m) {
  const card = h('article', { class: 'hit' });
  const show = () => {
    card.replaceChildren(
      h('p', { class: 'memory-text' }, m.text),
      h('div', { class: 'meta' },
        m.user_id ? h('span', null, `user ${m.user_id}`) : null,
        m.agent_id ? h('span', null, `agent ${m.agent_id}`) : null,
        m.session_id ? h('span', null, `session ${m.session_id}`) : null,
        m.tags.length ? h('span', null, `tags ${m.tags.join(', ')}`) : null,
        h('span', null, `importance ${m.importance}`),
        h('span', null, `updated ${when(m.updated_at)}`),
        m.expires_at ? h('span', null, `expires ${when(m.expires_at)}`) : null,
        h('span', { class: 'mono' }, m.id)),
      can('memories.write', true) ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'secondary', onclick: edit }, 'Edit'),
        h('button', { type: 'button', class: 'danger', onclick: remove }, 'Delete')) : null,
    );
  };
  const edit = () => {
    const text = h('textarea', { name: 'text' }, m.text);
    const tags = h('input', { type: 'text', name: 'tags', value: m.tags.join(', ') });
    const importance = h('input', { type: 'number', name: 'importance', min: 0, max: 1, step: 0.1, value: m.importance });
    card.replaceChildren(h('form', {
      onsubmit: async (ev) => {
        ev.preventDefault();
        try {
          m = await api('PATCH', vaultPath(`/memories/${encodeURIComponent(m.id)}`), {
            text: text.value,
            tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean),
            importance: Number(importance.value),
          });
          toast('Memory saved');
          show();
        } catch (e) {
          card.append(errorBox(e));
        }
      },
    }, field('Text', text), h('div', { class: 'row' }, field('Tags (comma separated)', tags, true), field('Importance', importance),
      h('button', { type: 'submit' }, 'Save'), h('button', { type: 'button', class: 'secondary', onclick: show }, 'Cancel'))));
    text.focus();
  };
  const remove = async () => {
    if (!confirm('Delete this memory? This cannot be undone.')) return;
    try {
      await api('DELETE', vaultPath(`/memories/${encodeURIComponent(m.id)}`));
      card.remove();
      toast('Memory deleted');
    } catch (e) {
      toast(e.message, true);
    }
  };
  show();
  return card;
}

// ---------------------------------------------------------------- jobs

views.jobs = async () => {
  const depth = h('section', { class: 'grid' });
  const running = h('div');
  const queued = h('div');
  const dead = h('div');
  const recent = h('div');
  render(h('h1', null, 'Jobs'), depth,
    h('h2', null, 'Running'), running, h('h2', null, 'Queued'), queued,
    h('h2', { id: 'dlq' }, 'Dead-letter queue'), dead, h('h2', null, 'Recently finished'), recent);
  const refresh = async () => {
    const [r, q, d, done] = await Promise.all([
      api('GET', '/v1/jobs' + query({ status: 'running', limit: 50 })),
      api('GET', '/v1/jobs' + query({ status: 'queued', limit: 50 })),
      api('GET', '/v1/dlq' + query({ limit: 50 })),
      api('GET', '/v1/jobs' + query({ limit: 15 })),
    ]);
    depth.replaceChildren(stat('Running', r.jobs.length), stat('Queued', q.jobs.length + (q.next_cursor ? '+' : '')), stat('Dead', d.jobs.length + (d.next_cursor ? '+' : '')));
    running.replaceChildren(jobTable(r.jobs, 'No job is running.'));
    queued.replaceChildren(jobTable(q.jobs, 'The queue is empty.'));
    dead.replaceChildren(jobTable(d.jobs, 'No job failed for good.', refresh));
    recent.replaceChildren(jobTable(done.jobs.filter((j) => ['succeeded', 'cancelled'].includes(j.status)), 'Nothing finished lately.'));
  };
  await refresh();
  every(2000, () => refresh().catch(() => {}));
};

function jobTable(jobs, empty, refresh) {
  if (!jobs.length) return h('p', { class: 'muted' }, empty);
  return h('table', null,
    h('thead', null, h('tr', null, ['Job', 'Status', 'Vault', 'Attempts', 'Updated', 'Details', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, jobs.map((j) => h('tr', { 'data-job': j.id },
      h('td', null, h('span', { class: 'mono' }, j.id), h('div', { class: 'muted small' }, j.kind)),
      h('td', null, badge(j.status)),
      h('td', null, j.vault || '—'),
      h('td', { class: 'num' }, `${j.attempts}/${j.max_attempts}`, j.retries ? ` (retried ${j.retries})` : ''),
      h('td', null, when(j.updated_at)),
      h('td', null, jobDetails(j)),
      h('td', null, jobActions(j, refresh))))));
}

function jobDetails(j) {
  if (j.status === 'running' && j.progress) {
    const { done, total } = j.progress;
    return h('span', null, h('progress', { max: total || 1, value: done, 'aria-label': `${j.id} progress` }), ` ${done}/${total}`);
  }
  if (j.error) return h('span', { class: 'error small' }, `${j.error.code}: ${j.error.message}`);
  if (j.result && j.result.added !== undefined) return h('span', { class: 'small' }, `+${j.result.added} ~${j.result.updated} −${j.result.deleted}`);
  if (j.payload && j.payload.uris) return h('span', { class: 'small mono' }, j.payload.uris.join(', '));
  return '';
}

function jobActions(j, refresh) {
  const act = (label, cls, method, path, done) => h('button', {
    type: 'button',
    class: cls,
    'aria-label': `${label} ${j.id}`,
    onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await api(method, path);
        toast(done);
        if (refresh) await refresh();
        else route();
      } catch (e) {
        toast(e.message, true);
        ev.target.disabled = false;
      }
    },
  }, label);
  const out = [];
  if (j.status === 'dead' && can('admin')) {
    out.push(act('Retry', 'secondary', 'POST', `/v1/dlq/${j.id}/retry`, `${j.id} is queued again`));
    out.push(act('Delete', 'danger', 'DELETE', `/v1/dlq/${j.id}`, `${j.id} deleted`));
  }
  if ((j.status === 'queued' || j.status === 'running') && !j.cancel_requested && can('jobs')) {
    out.push(act('Cancel', 'danger', 'POST', `/v1/jobs/${j.id}/cancel`, `${j.id}: cancellation asked`));
  }
  return h('div', { class: 'actions' }, out);
}

// ---------------------------------------------------------------- health

const series = { at: [], ingest: [], search: [], queue: [], dead: [], prev: null };

views.health = async () => {
  const components = h('div');
  const charts = h('section', { class: 'grid' });
  render(h('h1', null, 'Health'), components, h('h2', null, 'Since this page opened'), charts,
    h('p', { class: 'muted small' }, 'Sampled every 2 seconds from /metrics; the full set is there for Prometheus.'));
  const refresh = async () => {
    const [health, text] = await Promise.all([
      fetch('/health').then((r) => r.json()),
      fetch('/metrics').then((r) => r.text()),
    ]);
    components.replaceChildren(
      h('p', null, 'Overall ', badge(health.status), ` · version ${health.version} · up ${duration(health.uptime_s)}`),
      h('table', null,
        h('thead', null, h('tr', null, ['Component', 'Status', 'What it found', 'Latency'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', null, Object.entries(health.components).map(([name, c]) => h('tr', null,
          h('td', null, name), h('td', null, badge(c.status)), h('td', null, c.message),
          h('td', { class: 'num' }, `${c.latency_ms.toFixed(1)} ms`))))));
    sample(parseMetrics(text));
    charts.replaceChildren(
      chart('Ingest rate', series.ingest, (v) => `${v.toFixed(1)} docs/s`),
      chart('Search latency (mean)', series.search, (v) => `${v.toFixed(1)} ms`),
      chart('Queue depth', series.queue, (v) => `${v} jobs`),
      chart('Dead-letter queue', series.dead, (v) => `${v} jobs`));
  };
  await refresh();
  every(2000, () => refresh().catch(() => {}));
};

function duration(s) {
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function sample(metrics) {
  const now = Date.now() / 1000;
  const cur = {
    docs: metricSum(metrics, 'trove_ingested_documents_total'),
    searchSum: metricSum(metrics, 'trove_search_latency_seconds_sum'),
    searchCount: metricSum(metrics, 'trove_search_latency_seconds_count'),
  };
  const prev = series.prev;
  if (prev) {
    const dt = Math.max(now - prev.at, 0.001);
    const n = cur.searchCount - prev.searchCount;
    push(series.ingest, Math.max(0, (cur.docs - prev.docs) / dt));
    push(series.search, n > 0 ? ((cur.searchSum - prev.searchSum) / n) * 1000 : 0);
  }
  push(series.queue, metricSum(metrics, 'trove_queue_depth', (l) => l.status === 'queued' || l.status === 'running'));
  push(series.dead, metricSum(metrics, 'trove_dlq_depth'));
  series.prev = { ...cur, at: now };
}

function push(list, v) {
  list.push(v);
  if (list.length > 90) list.shift();
}

function chart(title, values, fmt) {
  const last = values.length ? values[values.length - 1] : null;
  const max = Math.max(1e-9, ...values);
  const w = 200;
  const hgt = 60;
  const pts = values.map((v, i) => `${values.length > 1 ? (i / (values.length - 1)) * w : w},${hgt - (v / max) * (hgt - 4) - 2}`);
  const graph = svg('svg', { class: 'chart', viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': `${title}: ${last === null ? 'no data yet' : fmt(last)}` });
  if (pts.length > 1) {
    graph.append(svg('polygon', { class: 'area', points: `0,${hgt} ${pts.join(' ')} ${w},${hgt}` }));
    graph.append(svg('polyline', { points: pts.join(' ') }));
  }
  return h('div', { class: 'panel' }, h('div', { class: 'muted small' }, title),
    h('div', { class: 'stat' }, last === null ? '—' : fmt(last)), graph,
    h('div', { class: 'muted small' }, `peak ${fmt(values.length ? Math.max(...values) : 0)}`));
}

// ---------------------------------------------------------------- admin

views.admin = async () => {
  if (!can('admin')) {
    render(h('h1', null, 'Admin'), h('p', { class: 'notice' }, 'Only owners and admins of the organization manage members, keys and the audit log.'));
    return;
  }
  if (state.me.kind === 'local') {
    render(h('h1', null, 'Admin'), h('p', { class: 'notice' },
      'Authentication is off: nobody has an account yet. Create the first owner with ',
      h('code', null, 'trove admin create-user --email you@example.com --org yourteam --owner'), ', then log in here.'));
    return;
  }
  const members = h('div');
  const teams = h('div');
  const grants = h('div');
  const invitations = h('div');
  const keys = h('div');
  const audit = h('div');
  const sessions = h('div');
  render(h('h1', null, `Admin · ${state.me.organization}`),
    h('h2', null, 'Members'), members, h('h2', null, 'Invitations'), invitations,
    h('h2', null, 'Teams'), teams, h('h2', null, `Who may use vault ${state.vault}`), grants, h('h2', null, 'API keys'), keys,
    h('h2', null, 'Audit log'), audit, h('h2', null, 'Your sessions'), sessions);
  await Promise.all([adminMembers(members), adminTeams(teams), adminGrants(grants), adminInvitations(invitations), adminKeys(keys), adminAudit(audit, new URLSearchParams()), adminSessions(sessions)]);
};

async function adminMembers(box) {
  const list = await api('GET', '/v1/org/members');
  const roles = ['owner', 'admin', 'member'];
  const email = h('input', { type: 'email', name: 'member-email', required: true });
  const role = h('select', { name: 'member-role' }, roles.map((r) => h('option', { value: r }, r)));
  role.value = 'member';
  box.replaceChildren(
    h('table', null,
      h('thead', null, h('tr', null, ['Email', 'Role', 'Joined', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((m) => {
        const sel = h('select', { 'aria-label': `Role of ${m.email}`, onchange: async () => {
          try {
            await api('PATCH', `/v1/org/members/${m.id}`, { role: sel.value });
            toast(`${m.email} is now ${sel.value}`);
          } catch (e) {
            toast(e.message, true);
            sel.value = m.role;
          }
        } }, roles.map((r) => h('option', { value: r }, r)));
        sel.value = m.role;
        return h('tr', null, h('td', null, m.email), h('td', null, sel), h('td', null, when(m.joined_at)),
          h('td', null, h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${m.email}`, onclick: async () => {
            if (!confirm(`Remove ${m.email} from the organization?`)) return;
            try {
              await api('DELETE', `/v1/org/members/${m.id}`);
              await adminMembers(box);
            } catch (e) {
              toast(e.message, true);
            }
          } }, 'Remove')));
      }))),
    h('form', { class: 'row panel', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/v1/org/members', { email: email.value, role: role.value });
        toast(`${email.value} added`);
        await adminMembers(box);
      } catch (e) {
        toast(e.message, true);
      }
    } }, field('Add an existing account by email', email, true), field('Role', role), h('button', { type: 'submit' }, 'Add member')));
}

async function adminTeams(box) {
  const list = await api('GET', '/v1/org/teams');
  const name = h('input', { type: 'text', name: 'team-name', required: true, placeholder: 'platform' });
  const act = async (fn) => {
    try {
      await fn();
      await adminTeams(box);
    } catch (e) {
      toast(e.message, true);
    }
  };
  box.replaceChildren(
    list.length ? h('table', null,
      h('thead', null, h('tr', null, ['Team', 'Members', 'Add a member', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((t) => {
        const email = h('input', { type: 'email', 'aria-label': `Add a member to ${t.name}`, placeholder: 'email' });
        return h('tr', { 'data-team': t.name },
          h('td', null, t.name),
          h('td', null, t.members.length ? t.members.map((m) => h('span', { class: 'badge' }, m.email, ' ',
            h('button', { type: 'button', class: 'link', 'aria-label': `Remove ${m.email} from ${t.name}`, onclick: () => act(() => api('DELETE', `/v1/org/teams/${t.id}/members/${m.id}`)) }, '×'))) : h('span', { class: 'muted' }, 'nobody yet')),
          h('td', null, h('form', { class: 'row', onsubmit: (ev) => { ev.preventDefault(); act(() => api('POST', `/v1/org/teams/${t.id}/members`, { email: email.value })); } },
            email, h('button', { type: 'submit', class: 'secondary' }, 'Add'))),
          h('td', null, h('button', { type: 'button', class: 'danger', 'aria-label': `Delete team ${t.name}`, onclick: () => { if (confirm(`Delete team ${t.name} and its grants?`)) act(() => api('DELETE', `/v1/org/teams/${t.id}`)); } }, 'Delete')));
      }))) : h('p', { class: 'muted' }, 'No teams yet: a team groups members, and vaults can be granted to it.'),
    h('form', { class: 'row panel', onsubmit: (ev) => { ev.preventDefault(); act(() => api('POST', '/v1/org/teams', { name: name.value })); } },
      field('New team', name, true), h('button', { type: 'submit' }, 'Create team')));
}

async function adminGrants(box) {
  if (!state.vault) {
    box.replaceChildren(h('p', { class: 'muted' }, 'No vault selected.'));
    return;
  }
  const list = await api('GET', vaultPath('/grants'));
  const who = h('input', { type: 'text', name: 'grant-who', required: true, placeholder: 'member email or team name' });
  const kind = h('select', { name: 'grant-kind' }, h('option', { value: 'member' }, 'member'), h('option', { value: 'team' }, 'team'));
  const level = h('select', { name: 'grant-level' }, ['read', 'write', 'admin'].map((l) => h('option', { value: l }, l)));
  const act = async (fn) => {
    try {
      await fn();
      await adminGrants(box);
    } catch (e) {
      toast(e.message, true);
    }
  };
  box.replaceChildren(
    h('p', { class: 'muted small' }, 'Owners and admins use every vault. Members use only what is granted to them or their teams: read (search, read), write (also change documents and memories), admin (also re-embed, delete, grant).'),
    list.length ? h('table', null,
      h('thead', null, h('tr', null, ['Who', 'Kind', 'Level', 'Since', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((g) => h('tr', { 'data-grant': g.name },
        h('td', null, g.name), h('td', null, g.grantee), h('td', null, g.level), h('td', null, when(g.granted_at)),
        h('td', null, h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${g.name}`, onclick: () => act(() => api('DELETE', vaultPath(`/grants/${g.id}`))) }, 'Revoke')))))) : h('p', { class: 'muted' }, 'No member has a grant on this vault.'),
    h('form', { class: 'row panel', onsubmit: (ev) => {
      ev.preventDefault();
      const body = { level: level.value };
      body[kind.value] = who.value;
      act(() => api('PUT', vaultPath('/grants'), body));
    } }, field('Grant to', who, true), field('Which is a', kind), field('Level', level), h('button', { type: 'submit' }, 'Grant')));
}

async function adminInvitations(box) {
  const list = await api('GET', '/v1/org/invitations');
  const email = h('input', { type: 'email', name: 'invite-email', required: true });
  const role = h('select', { name: 'invite-role' }, ['member', 'admin', 'owner'].map((r) => h('option', { value: r }, r)));
  box.replaceChildren(
    list.length ? h('table', null,
      h('thead', null, h('tr', null, ['Email', 'Role', 'Status', 'Invited by', 'Expires', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((i) => h('tr', { 'data-invitation': i.id },
        h('td', null, i.email), h('td', null, i.role), h('td', null, badge(i.status)), h('td', null, i.invited_by),
        h('td', null, when(i.expires_at)),
        h('td', null, i.status !== 'pending' ? '' : h('button', { type: 'button', class: 'danger', 'aria-label': `Withdraw the invitation of ${i.email}`, onclick: async () => {
          try {
            await api('DELETE', `/v1/org/invitations/${i.id}`);
            await adminInvitations(box);
          } catch (e) {
            toast(e.message, true);
          }
        } }, 'Withdraw')))))) : h('p', { class: 'muted' }, 'No invitations yet.'),
    h('form', { class: 'row panel', onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        await api('POST', '/v1/org/invitations', { email: email.value, role: role.value });
        toast(`Invitation mailed to ${email.value}`);
        await adminInvitations(box);
      } catch (e) {
        toast(e.message, true);
      }
    } }, field('Invite by email', email, true), field('Invite as', role), h('button', { type: 'submit' }, 'Send invitation')));
}

const ACTIONS = ['search', 'documents.write', 'memories.read', 'memories.write', 'jobs', 'admin'];

async function adminKeys(box, created) {
  const list = await api('GET', '/v1/keys');
  const name = h('input', { type: 'text', name: 'key-name', required: true, placeholder: 'support-bot' });
  const vaults = h('input', { type: 'text', name: 'key-vaults', value: '*', placeholder: '* or notes, docs' });
  const days = h('input', { type: 'number', name: 'key-days', min: 1, placeholder: 'never' });
  const checks = ACTIONS.map((a) => h('input', { type: 'checkbox', name: 'key-action', value: a, checked: a === 'search' }));
  const reveal = created ? h('div', { class: 'secret', role: 'alert' },
    h('div', null, h('strong', null, `Key “${created.name}” — copy it now, it is not shown again:`), h('br'), h('code', { id: 'new-key' }, created.key)),
    h('button', { type: 'button', class: 'secondary', onclick: () => navigator.clipboard.writeText(created.key).then(() => toast('Copied'), () => toast('Select the key and copy it', true)) }, 'Copy')) : null;
  box.replaceChildren(
    reveal || '',
    list.length ? h('table', null,
      h('thead', null, h('tr', null, ['Name', 'Key', 'Vaults', 'Actions', 'Created', 'Last used', 'Expires', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', null, list.map((k) => h('tr', { 'data-key': k.id },
        h('td', null, k.name, h('div', { class: 'muted small' }, k.created_by)),
        h('td', { class: 'mono' }, `${k.prefix}…`),
        h('td', null, k.vaults.join(', ') || '*'),
        h('td', { class: 'small' }, k.actions.join(', ')),
        h('td', null, when(k.created_at)),
        h('td', null, when(k.last_used_at)),
        h('td', null, k.revoked_at ? h('span', { class: 'error' }, `revoked ${when(k.revoked_at)}`) : when(k.expires_at)),
        h('td', null, k.revoked_at ? '' : h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${k.name}`, onclick: async () => {
          if (!confirm(`Revoke the key “${k.name}”? Clients using it stop working at once.`)) return;
          try {
            await api('DELETE', `/v1/keys/${k.id}`);
            toast(`${k.name} revoked`);
            await adminKeys(box);
          } catch (e) {
            toast(e.message, true);
          }
        } }, 'Revoke')))))) : h('p', { class: 'muted' }, 'No API keys yet.'),
    h('form', { class: 'panel', onsubmit: async (ev) => {
      ev.preventDefault();
      const actions = checks.filter((c) => c.checked).map((c) => c.value);
      try {
        const key = await api('POST', '/v1/keys', {
          name: name.value,
          vaults: vaults.value.split(',').map((v) => v.trim()).filter(Boolean),
          actions,
          expires_in_days: days.value ? Number(days.value) : undefined,
        });
        await adminKeys(box, key);
      } catch (e) {
        toast(e.message, true);
      }
    } },
    h('div', { class: 'row' }, field('New key name', name, true), field('Vaults', vaults), field('Expires in days', days)),
    h('fieldset', { class: 'checks' }, h('legend', null, 'Actions'), checks.map((c) => h('label', null, c, ` ${c.value}`))),
    h('p', null, h('button', { type: 'submit' }, 'Create key'))));
}

async function adminAudit(box, params) {
  const inputs = {
    event: h('input', { type: 'text', name: 'audit-event', value: params.get('event') || '', placeholder: 'key.created' }),
    actor: h('input', { type: 'text', name: 'audit-actor', value: params.get('actor') || '', placeholder: 'session:ses_… or key:key_…' }),
    from: h('input', { type: 'datetime-local', name: 'audit-from', value: params.get('from') || '' }),
    to: h('input', { type: 'datetime-local', name: 'audit-to', value: params.get('to') || '' }),
  };
  const rows = h('tbody');
  const more = h('div');
  const iso = (v) => (v ? new Date(v).toISOString() : '');
  const load = async (cursor) => {
    const page = await api('GET', '/v1/audit' + query({
      event: inputs.event.value.trim(), actor: inputs.actor.value.trim(), from: iso(inputs.from.value), to: iso(inputs.to.value), cursor, limit: 25,
    }));
    for (const e of page.events) {
      rows.append(h('tr', null, h('td', null, when(e.at)), h('td', { class: 'mono' }, e.event), h('td', null, e.actor),
        h('td', null, badge(e.outcome)), h('td', { class: 'mono small' }, e.target || ''), h('td', { class: 'small' }, e.ip || '')));
    }
    more.replaceChildren(page.next_cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => load(page.next_cursor) }, 'Older entries') : '');
  };
  box.replaceChildren(
    h('form', { class: 'row panel', onsubmit: async (ev) => {
      ev.preventDefault();
      rows.replaceChildren();
      try {
        await load();
      } catch (e) {
        toast(e.message, true);
      }
    } }, field('Event', inputs.event), field('Actor', inputs.actor), field('From', inputs.from), field('To', inputs.to), h('button', { type: 'submit' }, 'Filter')),
    h('table', null, h('thead', null, h('tr', null, ['When', 'Event', 'Actor', 'Outcome', 'Target', 'Address'].map((t) => h('th', { scope: 'col' }, t)))), rows),
    more);
  await load();
}

async function adminSessions(box) {
  const list = await api('GET', '/v1/auth/sessions');
  box.replaceChildren(h('table', null,
    h('thead', null, h('tr', null, ['Client', 'Address', 'Created', 'Last used', 'Expires', ''].map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', null, list.map((s) => h('tr', null,
      h('td', null, s.client, s.current ? h('span', { class: 'muted small' }, ' (this one)') : ''),
      h('td', null, s.ip || '—'), h('td', null, when(s.created_at)), h('td', null, when(s.last_used_at)), h('td', null, when(s.expires_at)),
      h('td', null, s.current ? '' : h('button', { type: 'button', class: 'danger', onclick: async () => {
        try {
          await api('DELETE', `/v1/auth/sessions/${s.id}`);
          await adminSessions(box);
        } catch (e) {
          toast(e.message, true);
        }
      } }, 'End')))))));
}

// ---------------------------------------------------------------- start

document.getElementById('vault').addEventListener('change', (ev) => {
  state.vault = ev.target.value;
  localStorage.setItem('trove.vault', state.vault);
  const name = (location.hash.slice(2).split(/[/?]/)[0]) || 'search';
  if (name === 'doc') location.hash = '#/search';
  else route();
});
document.getElementById('logout').addEventListener('click', async () => {
  try {
    await api('POST', '/v1/auth/logout');
  } catch {
    // Logged out already.
  }
  state.me = null;
  state.csrf = null;
  sessionStorage.removeItem('trove.csrf');
  showLogin('You are logged out.');
});
window.addEventListener('hashchange', route);
boot();
