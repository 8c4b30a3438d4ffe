// The dashboard: a key, the tenant's signals (tested before saved), live matches, charts.
// Plain modules, no framework: the DOM is built from text nodes, never from markup strings.

import { Api, ApiError } from './api.js';
import { highlighted } from './highlight.js';
import { Live } from './live.js';
import { drawSentiment, drawVolume } from './chart.js';

const KEY = 'backchannel.apiKey';
const MAX_MATCHES = 200;
const REFRESH_MS = 5000;
const ID = /^[A-Za-z0-9._-]{1,128}$/;

const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  }
  node.append(...children.filter((c) => c !== undefined && c !== null));
  return node;
}

const state = {
  api: null,
  live: null,
  signals: [],
  seen: new Map(), // signal id -> matches seen this session
  shown: new Set(), // mention ids in the list
  tested: null, // the (query, options) the last successful test ran
  editing: null, // id of the signal in the form, null for a new one
  timer: null,
  pending: new Set(), // signals whose chart should refresh soon
  soon: null,
  drawn: new Map(), // signal id -> when its chart was last requested
  paused: false,
  held: [], // matches that arrived while paused, oldest first
};

// ---------------------------------------------------------------- connection state

const STATES = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  connected: 'Live: connected',
  reconnecting: 'Reconnecting… (resuming from the last event)',
  lagged: 'Lagged: catching up',
  disconnected: 'Disconnected',
  refused: 'Refused',
};

function setConn(s, detail) {
  const conn = $('conn');
  conn.dataset.state = s;
  conn.textContent = detail ? `${STATES[s]}: ${detail}` : STATES[s];
  if (s === 'refused') {
    logout(`The stream refused the key: ${detail}`);
  }
}

// ---------------------------------------------------------------- key

async function login(key) {
  const api = new Api(key);
  $('key-error').textContent = '';
  let signals;
  try {
    signals = await api.signals();
  } catch (e) {
    sessionStorage.removeItem(KEY);
    const why = e.status === 401 ? `The key was refused: ${e.message}` : `Could not sign in: ${e.message}`;
    $('key-error').textContent = why;
    $('key').focus();
    return;
  }
  sessionStorage.setItem(KEY, key);
  state.api = api;
  $('key').value = '';
  $('login').hidden = true;
  $('app').hidden = false;
  $('forget').hidden = false;
  showSignals(signals);
  state.live = new Live(key, onEvent, setConn);
  state.live.open();
  refreshCharts();
  state.timer = setInterval(refreshCharts, REFRESH_MS);
}

function logout(message) {
  sessionStorage.removeItem(KEY);
  if (state.live) state.live.close();
  clearInterval(state.timer);
  Object.assign(state, { api: null, live: null, signals: [], tested: null, editing: null });
  state.seen.clear();
  state.shown.clear();
  state.drawn.clear();
  state.pending.clear();
  clearTimeout(state.soon);
  state.soon = null;
  state.held = [];
  if (state.paused) togglePause();
  $('live-note').textContent = 'Matches of every signal appear here as they are stored, newest first.';
  $('matches').replaceChildren();
  $('chart-list').replaceChildren();
  $('app').hidden = true;
  $('forget').hidden = true;
  $('login').hidden = false;
  $('key-error').textContent = message || '';
  const conn = $('conn');
  conn.dataset.state = 'idle';
  conn.textContent = STATES.idle;
  $('key').focus();
}

// ---------------------------------------------------------------- signals

const byId = (list) => [...list].sort((a, b) => a.id.localeCompare(b.id));

function showSignals(list) {
  state.signals = byId(list);
  const rows = state.signals.map((s) => {
    const edit = h('button', { type: 'button', 'aria-label': `Edit ${s.id}` }, 'Edit');
    edit.addEventListener('click', () => editSignal(s));
    const del = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${s.id}` }, 'Delete');
    del.addEventListener('click', () => deleteSignal(s.id));
    return h(
      'tr',
      { 'data-signal': s.id },
      h('th', { scope: 'row' }, s.id),
      h('td', {}, h('code', {}, s.query)),
      h('td', {}, String(s.version)),
      h('td', { class: 'seen' }, String(state.seen.get(s.id) || 0)),
      h('td', { class: 'actions' }, edit, ' ', del),
    );
  });
  $('signal-table').tBodies[0].replaceChildren(...rows);
  $('no-signals').hidden = rows.length > 0;
  syncCharts();
}

async function reloadSignals() {
  try {
    showSignals(await state.api.signals());
  } catch (e) {
    status(`Could not list the signals: ${e.message}`, true);
  }
}

function formValue() {
  const options = { keep_accents: $('sig-accents').checked };
  if ($('sig-stem').value) options.stem = $('sig-stem').value;
  return { id: $('sig-id').value.trim(), query: $('sig-query').value.trim(), options };
}

const fingerprint = (v) => JSON.stringify([v.query, v.options]);

function status(text, error) {
  const p = $('form-status');
  p.textContent = text;
  p.classList.toggle('error', Boolean(error));
}

function formChanged() {
  const ok = state.tested !== null && state.tested === fingerprint(formValue());
  $('save-btn').disabled = !ok;
  if (!ok && state.tested !== null) {
    state.tested = null;
    status('The query changed: test it again before saving.');
  }
}

function editSignal(s) {
  state.editing = s.id;
  state.tested = null;
  $('form-h').textContent = `Edit signal ${s.id}`;
  $('sig-id').value = s.id;
  $('sig-id').readOnly = true;
  $('sig-query').value = s.query;
  $('sig-accents').checked = Boolean(s.options && s.options.keep_accents);
  $('sig-stem').value = (s.options && s.options.stem) || '';
  $('save-btn').disabled = true;
  $('save-btn').textContent = 'Save changes';
  $('test-result').replaceChildren();
  status('Test the query, then save it.');
  $('sig-query').focus();
}

function newSignal() {
  state.editing = null;
  state.tested = null;
  $('form-h').textContent = 'New signal';
  $('signal-form').reset();
  $('sig-id').readOnly = false;
  $('save-btn').disabled = true;
  $('save-btn').textContent = 'Save';
  $('test-result').replaceChildren();
  status('Test the query, then save it.');
  $('sig-id').focus();
}

async function testQuery() {
  const v = formValue();
  if (!v.query) {
    status('Write a query first.', true);
    $('sig-query').focus();
    return;
  }
  status('Testing…');
  const result = $('test-result');
  try {
    const r = await state.api.testSignal(v.query, v.options);
    // Only a test of what the form still holds counts.
    if (fingerprint(formValue()) !== fingerprint(v)) return;
    state.tested = fingerprint(v);
    $('save-btn').disabled = false;
    status(`Tested: matched ${r.matched} of the ${r.scanned} newest stored mentions. Save it when it looks right.`);
    const items = r.matches.map((m) => matchItem(m.mention, m.highlights, []));
    result.replaceChildren(
      h('p', { class: 'test-summary', 'data-matched': r.matched, 'data-scanned': r.scanned },
        `Test: ${r.matched} of ${r.scanned} matched`, r.matches.length ? `; the newest ${r.matches.length}:` : '.'),
      h('ol', { class: 'matches' }, ...items),
    );
  } catch (e) {
    state.tested = null;
    $('save-btn').disabled = true;
    status(`The query does not work: ${e.message}`, true);
    result.replaceChildren();
  }
}

async function saveSignal(event) {
  event.preventDefault();
  const v = formValue();
  if (state.tested !== fingerprint(v)) {
    await testQuery();
    return;
  }
  if (!ID.test(v.id) || v.id === 'test') {
    status('The id must be 1–128 letters, digits, "-", "_" or "." (and not "test").', true);
    $('sig-id').focus();
    return;
  }
  try {
    const r = await state.api.putSignal(v.id, v.query, v.options);
    status(`Saved ${v.id}, version ${r.version}. Its matches appear below as they arrive.`);
    state.editing = v.id;
    $('sig-id').readOnly = true;
    $('form-h').textContent = `Edit signal ${v.id}`;
    $('save-btn').textContent = 'Save changes';
    await reloadSignals();
  } catch (e) {
    status(`Not saved: ${e.message}`, true);
  }
}

async function deleteSignal(id) {
  if (!window.confirm(`Delete the signal ${id}? Its stored matches stay; new ones stop.`)) return;
  try {
    await state.api.deleteSignal(id);
    status(`Deleted ${id}.`);
    if (state.editing === id) newSignal();
  } catch (e) {
    status(`Not deleted: ${e.message}`, true);
  }
  await reloadSignals();
}

// ---------------------------------------------------------------- live matches

function matchItem(mention, highlights, signals) {
  const when = mention.created_at ? new Date(mention.created_at) : null;
  const author = mention.author || {};
  const meta = h('div', { class: 'meta' });
  if (when && !Number.isNaN(when.getTime())) {
    meta.append(h('time', { datetime: mention.created_at }, when.toLocaleTimeString()), ' · ');
  }
  meta.append(h('span', { class: 'source' }, mention.source || '?'));
  if (author.handle) meta.append(' · ', h('span', { class: 'author' }, `@${author.handle}`));
  if (mention.edited_at) {
    meta.append(' · ', h('span', { class: 'edited', title: String(mention.edited_at) }, 'edited'));
  }
  for (const s of signals) meta.append(' ', h('span', { class: 'sig' }, s));
  const url = safeUrl(mention.url);
  if (url) {
    meta.append(' · ', h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, 'open'));
  }
  const text = h('p', { class: 'text' });
  text.append(highlighted(mention.text, highlights));
  return h('li', { class: 'match', 'data-mention': mention.id }, meta, text);
}

// Only web links become links (a source could send `javascript:`).
function safeUrl(u) {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

function onEvent(type, data) {
  if (type === 'lagged') {
    const note = data.reason === 'cursor_expired'
      ? 'Some matches were older than the replay buffer and are not shown; each signal\'s stored mentions are in the API.'
      : 'This page fell behind; the missed matches follow.';
    $('live-note').textContent = note;
    return;
  }
  if (type !== 'match' || !data.mention) return;
  const m = data.mention;
  const signals = (data.signals || []).map((s) => s.signal);
  const highlights = (data.signals || []).flatMap((s) => s.highlights || []);
  if (m.edited_at && state.shown.has(m.id)) {
    // A later version of a match already listed (or held): it takes that one's place and is
    // not another match.
    replaceMatch(m, highlights, signals);
    return;
  }
  for (const id of signals) {
    state.seen.set(id, (state.seen.get(id) || 0) + 1);
    const cell = document.querySelector(`tr[data-signal="${CSS.escape(id)}"] .seen`);
    if (cell) cell.textContent = String(state.seen.get(id));
    state.pending.add(id);
  }
  if (!state.shown.has(m.id)) {
    state.shown.add(m.id);
    if (state.paused) {
      state.held.push([m, highlights, signals]);
      if (state.held.length > MAX_MATCHES) state.shown.delete(state.held.shift()[0].id);
      $('live-note').textContent = `Paused: ${state.held.length} new matches held.`;
    } else {
      show(m, highlights, signals);
    }
  }
  // The charts of these signals follow shortly, not on every event.
  if (!state.soon) {
    state.soon = setTimeout(() => {
      state.soon = null;
      const ids = [...state.pending];
      state.pending.clear();
      // Only charts not drawn in the last few seconds, a few at a time: the request rate is
      // the tenant's, shared with its other clients.
      const now = Date.now();
      ids
        .filter((id) => now - (state.drawn.get(id) || 0) > REFRESH_MS - 1000)
        .slice(0, 4)
        .forEach(refreshChart);
    }, 1000);
  }
}

function show(m, highlights, signals) {
  const list = $('matches');
  list.prepend(listItem(m, highlights, signals));
  while (list.children.length > MAX_MATCHES) {
    state.shown.delete(list.lastElementChild.dataset.mention);
    list.lastElementChild.remove();
  }
}

function replaceMatch(m, highlights, signals) {
  const held = state.held.find((x) => x[0].id === m.id);
  if (held) {
    held.splice(0, 3, m, highlights, signals);
    return;
  }
  const old = document.querySelector(`#matches li[data-mention="${CSS.escape(m.id)}"]`);
  if (old) old.replaceWith(listItem(m, highlights, signals));
}

// A match as the live list holds it.
function listItem(m, highlights, signals) {
  const item = matchItem(m, highlights, signals);
  item.dataset.signals = signals.join(' ');
  return item;
}

// Pausing holds new matches back (and silences the live region, which a busy signal would
// flood); resuming shows them at once.
function togglePause() {
  const list = $('matches');
  state.paused = !state.paused;
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
  $('pause').setAttribute('aria-pressed', String(state.paused));
  if (state.paused) {
    list.setAttribute('aria-live', 'off');
    $('live-note').textContent = 'Paused: new matches are held.';
    return;
  }
  const held = state.held;
  state.held = [];
  for (const [m, highlights, signals] of held) show(m, highlights, signals);
  $('live-note').textContent = `${held.length} held matches shown; live again.`;
  setTimeout(() => list.setAttribute('aria-live', 'polite'), 0);
}

// ---------------------------------------------------------------- charts

function syncCharts() {
  const list = $('chart-list');
  const want = new Set(state.signals.map((s) => s.id));
  for (const card of [...list.children]) {
    if (!want.has(card.dataset.signal)) card.remove();
  }
  for (const s of state.signals) {
    if (list.querySelector(`[data-signal="${CSS.escape(s.id)}"]`)) continue;
    const headingId = `chart-h-${list.children.length}-${Date.now()}`;
    const card = h(
      'article',
      { class: 'chart-card', 'data-signal': s.id, 'aria-labelledby': headingId },
      h('h3', { id: headingId }, s.id),
      h('p', { class: 'summary' }, 'Loading…'),
    );
    card.append(
      document.createElementNS('http://www.w3.org/2000/svg', 'svg'),
      document.createElementNS('http://www.w3.org/2000/svg', 'svg'),
    );
    card.children[2].setAttribute('class', 'chart volume');
    card.children[3].setAttribute('class', 'chart sentiment');
    list.append(card);
    refreshChart(s.id);
  }
}

async function refreshChart(id) {
  if (!state.api) return;
  const card = $('chart-list').querySelector(`[data-signal="${CSS.escape(id)}"]`);
  if (!card) return;
  state.drawn.set(id, Date.now());
  try {
    const series = await state.api.series(id);
    const points = series.points || [];
    const total = points.reduce((n, p) => n + (p.mentions || 0), 0);
    const top = new Map();
    for (const p of points) for (const t of p.top_hashtags || []) top.set(t.hashtag, (top.get(t.hashtag) || 0) + t.count);
    const tags = [...top].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([t]) => `#${t}`);
    card.querySelector('.summary').textContent =
      `${total} mentions in the last hour${tags.length ? `; top hashtags ${tags.join(' ')}` : ''}`;
    drawVolume(card.querySelector('svg.volume'), points);
    drawSentiment(card.querySelector('svg.sentiment'), points);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return; // deleted meanwhile
    card.querySelector('.summary').textContent = `Could not load the series: ${e.message}`;
  }
}

// One signal after another, so that many signals stay within the tenant's request rate. The
// list is read again first, so signals changed elsewhere (the CLI, another tab) show up; the
// table is rebuilt only when it changed, so keyboard focus stays where it is.
let refreshing = false;
async function refreshCharts() {
  if (refreshing || document.hidden || !state.api) return;
  refreshing = true;
  try {
    const list = await state.api.signals().catch(() => null);
    if (list && JSON.stringify(byId(list)) !== JSON.stringify(state.signals)) showSignals(list);
    for (const s of state.signals) {
      await refreshChart(s.id);
      // Many signals: spread their requests out (at most 5 a second).
      if (state.signals.length > 10) await new Promise((done) => setTimeout(done, 200));
    }
  } finally {
    refreshing = false;
  }
}

// ---------------------------------------------------------------- start

function start() {
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('key').value.trim();
    if (key) login(key);
  });
  $('forget').addEventListener('click', () => logout());
  $('signal-form').addEventListener('submit', saveSignal);
  $('test-btn').addEventListener('click', testQuery);
  $('new-btn').addEventListener('click', newSignal);
  $('pause').addEventListener('click', togglePause);
  for (const id of ['sig-query', 'sig-accents', 'sig-stem']) {
    $(id).addEventListener('input', formChanged);
    $(id).addEventListener('change', formChanged);
  }
  const saved = sessionStorage.getItem(KEY);
  if (saved) login(saved);
  else $('key').focus();
}

start();
