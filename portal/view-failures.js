// Failures: the records of events that could not be delivered, filtered by status and
// date; retrigger one, or recover a whole range (every endpoint or one). A pending record
// is watched where it stands, so `pending` turns into `resolved`, or back into `inactive`,
// in front of the customer, even when the filter would no longer select it. Watching costs
// the customer's rate limit, which their own integration shares: one list request covers
// every watched record, the pause between them grows while nothing changes, and a hidden
// tab asks nothing.

import { api } from './api.js';
import { h, replace, field, timeEl, errorBox, busy, failureStatus, toast } from './dom.js';

const PAGE = 25;
const POLL_MS = 3000;
const POLL_MAX_MS = 30000;
// The most records one poll reads (the API's page limit).
const POLL_LIMIT = 100;

// An API timestamp moved by `ms`, in the API's format.
function shifted(timestamp, ms) {
  return new Date(Date.parse(timestamp) + ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// A datetime-local value (the customer's time zone) as the API's UTC timestamp.
function utc(local) {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function render(main, ctx) {
  let offset = 0;
  let timer = null;
  let stopped = false;
  let pause = POLL_MS;
  // Pending records by id, with when each was created (what one list request selects them by).
  const watched = new Map();
  const status = h('select', { name: 'status' },
    h('option', { value: 'inactive,pending' }, 'Needing attention (failed or pending)'),
    h('option', { value: 'inactive' }, 'Failed'),
    h('option', { value: 'pending' }, 'Pending'),
    h('option', { value: 'resolved' }, 'Resolved'),
    h('option', { value: 'inactive,pending,resolved' }, 'All'));
  const from = h('input', { type: 'datetime-local', name: 'from' });
  const to = h('input', { type: 'datetime-local', name: 'to' });
  const endpoint = h('select', { name: 'endpoint' }, h('option', { value: '' }, 'Every endpoint'));
  const list = h('ul', { class: 'cards', 'aria-label': 'Failures' });
  const pager = h('div', { class: 'pager' });
  const problems = h('div');
  const recoverButton = h('button', { type: 'button', class: 'secondary' }, 'Retrigger every failed event in this range');

  const filters = h('form', { class: 'panel filters' },
    field('Status', status),
    field('From', from, 'Created at or after (your time).'),
    field('Until', to, 'Created before (your time).'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show')));
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    offset = 0;
    load();
  });

  const recover = h('div', { class: 'panel' },
    h('h2', {}, 'Recover a range'),
    h('p', { class: 'muted' }, 'Sends every failed event created in the range above again, once, at once: to every endpoint, or to one.'),
    field('Endpoint', endpoint),
    h('div', { class: 'actions' }, recoverButton));
  recoverButton.addEventListener('click', () => busy(recoverButton, (async () => {
    const body = {};
    if (utc(from.value)) body['created_at[gte]'] = utc(from.value);
    if (utc(to.value)) body['created_at[lt]'] = utc(to.value);
    if (endpoint.value) body.webhook_id = endpoint.value;
    const r = await api.recover(body);
    toast(r.retriggered === 1 ? '1 event retriggered.' : `${r.retriggered} events retriggered.`);
    await load();
  })()).catch((err) => replace(problems, errorBox(err))));

  function failureCard(f) {
    const retrigger = f.status === 'inactive' && ctx.canManage
      ? h('button', { type: 'button', class: 'primary' }, 'Retrigger')
      : null;
    if (retrigger) {
      retrigger.setAttribute('aria-label', `Retrigger ${f.event} to ${f.webhook.name || 'its endpoint'}`);
      retrigger.addEventListener('click', () => busy(retrigger, (async () => {
        const r = await api.retrigger(f.id);
        toast('Retriggered: one attempt is on its way.');
        pause = POLL_MS;
        show(r.webhook_failure);
        schedule();
      })()).catch((err) => replace(problems, errorBox(err))));
    }
    return h('li', { class: 'card', 'data-failure': f.id },
      h('div', { class: 'card-head' },
        h('span', { class: 'card-title' }, f.event),
        failureStatus(f.status)),
      h('p', {}, 'Endpoint: ', h('a', { href: `#/endpoints/${encodeURIComponent(f.webhook.id)}` }, f.webhook.name || f.webhook.id)),
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'Reason'), h('dd', {}, f.reason || '—')),
        h('div', {}, h('dt', {}, 'Last attempt'), h('dd', {}, timeEl(f.last_attempt_at))),
        h('div', {}, h('dt', {}, 'Created'), h('dd', {}, timeEl(f.created_at)))),
      retrigger ? h('div', { class: 'actions' }, retrigger) : null);
  }

  // A card replaced by the record as it now is; a pending one stays watched. Whether it
  // changed.
  function show(f) {
    const old = list.querySelector(`[data-failure="${CSS.escape(f.id)}"]`);
    const changed = old?.querySelector('[data-status]')?.dataset.status !== f.status;
    if (old) old.replaceWith(failureCard(f));
    if (f.status === 'pending') watched.set(f.id, f.created_at);
    else watched.delete(f.id);
    return changed;
  }

  function schedule() {
    clearTimeout(timer);
    if (!stopped && watched.size && !document.hidden) timer = setTimeout(poll, pause);
  }

  // Every watched record in one request: the range of their creation times, every status.
  async function poll() {
    if (stopped || !watched.size || document.hidden) return;
    const times = [...watched.values()].sort();
    let page;
    try {
      page = await api.failures({
        limit: POLL_LIMIT,
        status: 'inactive,pending,resolved',
        'created_at[gte]': times[0],
        'created_at[lt]': shifted(times[times.length - 1], 1000),
      });
    } catch (err) {
      if (err.status === 429) {
        pause = Math.max(pause, (err.retryAfter || 1) * 1000);
      } else {
        pause = Math.min(pause * 2, POLL_MAX_MS);
      }
      schedule();
      return;
    }
    if (stopped) return;
    let changed = false;
    for (const f of page.webhook_failures) if (watched.has(f.id) && show(f)) changed = true;
    // Nothing moved: ask less often, up to every 30 s.
    pause = changed ? POLL_MS : Math.min(pause * 2, POLL_MAX_MS);
    schedule();
  }

  // Back in view: look at once; out of view: ask nothing.
  function visibility() {
    clearTimeout(timer);
    if (!document.hidden) {
      pause = POLL_MS;
      poll();
    }
  }
  document.addEventListener('visibilitychange', visibility);

  async function load() {
    if (stopped) return;
    const params = { limit: PAGE, offset, status: status.value, 'created_at[gte]': utc(from.value), 'created_at[lt]': utc(to.value) };
    let page;
    try {
      page = await api.failures(params);
    } catch (err) {
      if (!stopped) replace(problems, errorBox(err));
      return;
    }
    if (stopped) return;
    replace(problems);
    const items = page.webhook_failures;
    replace(list, items.length ? items.map(failureCard) : h('li', { class: 'empty' }, 'No failures here.'));
    const { total } = page.metadata;
    const prev = h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onClick: () => { offset = Math.max(0, offset - PAGE); load(); } }, 'Newer');
    const next = h('button', { type: 'button', class: 'secondary', disabled: offset + PAGE >= total, onClick: () => { offset += PAGE; load(); } }, 'Older');
    replace(pager, total > PAGE ? [prev, h('span', {}, `${offset + 1}–${Math.min(offset + PAGE, total)} of ${total}`), next] : null);
    watched.clear();
    for (const f of items) if (f.status === 'pending') watched.set(f.id, f.created_at);
    pause = POLL_MS;
    schedule();
  }

  async function loadEndpoints() {
    try {
      const page = await api.listEndpoints({ limit: 100 });
      for (const sub of page.subscriptions) endpoint.append(h('option', { value: sub.id }, sub.name || sub.url));
    } catch {
      // The recover form still works for every endpoint.
    }
  }

  replace(main, h('div', { class: 'view-head' }, h('h1', {}, 'Failures')), filters, problems, list, pager,
    ctx.canManage ? recover : null);
  load();
  if (ctx.canManage) loadEndpoints();
  return () => {
    stopped = true;
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', visibility);
  };
}
