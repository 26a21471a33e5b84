// One endpoint: its state, the actions on it (test, rotate the secret, reactivate,
// delete), the edit form, and its attempts page by page. A read-only session sees the
// state and the attempts only.

import { api } from './api.js';
import { h, replace, timeEl, errorBox, secretBox, busy, endpointStatus, toast } from './dom.js';
import { endpointForm, verificationSnippet, rateLimitText, orderingText, filterText } from './view-endpoints.js';

const PAGE = 10;

function attemptRow(a) {
  const ok = a.status_code !== null && a.status_code >= 200 && a.status_code < 300;
  return h('tr', {},
    h('td', {}, timeEl(a.attempted_at)),
    h('td', {}, a.test ? h('span', { class: 'badge muted' }, 'test') : a.event, a.test ? null : h('span', { class: 'muted' }, ` #${a.attempt}`)),
    h('td', {}, h('span', { class: `badge ${ok ? 'ok' : 'bad'}` }, a.status_code === null ? 'no answer' : String(a.status_code))),
    h('td', {}, a.reason || '—'),
    h('td', { class: 'num' }, `${a.duration_ms} ms`),
    h('td', {}, a.response_excerpt ? h('pre', { class: 'excerpt' }, a.response_excerpt) : h('span', { class: 'muted' }, '—')));
}

export function render(main, ctx, id) {
  let offset = 0;
  let sub = null;
  const head = h('div', { class: 'view-head' });
  const summary = h('div');
  const result = h('div', { 'aria-live': 'polite' });
  const actions = h('div', { class: 'actions wrap' });
  const editSlot = h('section', { 'aria-labelledby': 'edit-title' });
  const attempts = h('tbody');
  const pager = h('div', { class: 'pager' });

  function showSummary() {
    replace(head, h('h1', {}, sub.name || sub.url), endpointStatus(sub));
    const why = !sub.is_active && sub.disabled_reason === 'auto_disabled'
      ? h('p', { class: 'why' }, `Auto-disabled after ${sub.consecutive_failures} failed events in a row (last attempt `, timeEl(sub.last_delivery_at), `: ${sub.last_error || 'unknown'}). Fix the endpoint, then reactivate it.`)
      : null;
    const deleted = !sub.is_active && sub.disabled_reason === 'deleted'
      ? h('p', { class: 'why' }, 'Deleted: it receives nothing. Reactivate it within 90 days to bring it back.')
      : null;
    replace(summary, h('div', { class: 'panel' }, why, deleted,
      h('dl', { class: 'facts' },
        h('div', {}, h('dt', {}, 'URL'), h('dd', { class: 'url' }, sub.url)),
        h('div', {}, h('dt', {}, 'Events'), h('dd', {}, sub.events.length ? sub.events.join(', ') : 'every event')),
        h('div', {}, h('dt', {}, 'Secret'), h('dd', {}, h('code', {}, `${sub.secret_prefix}…`))),
        h('div', {}, h('dt', {}, 'Rate limit'), h('dd', { class: 'rate-limit' }, rateLimitText(sub))),
        h('div', {}, h('dt', {}, 'Order'), h('dd', { class: 'ordering' }, orderingText(sub))),
        h('div', {}, h('dt', {}, 'Filter'), h('dd', { class: 'filter' }, h('code', {}, filterText(sub)))),
        h('div', {}, h('dt', {}, 'Failures in a row'), h('dd', {}, String(sub.consecutive_failures))),
        h('div', {}, h('dt', {}, 'Last delivery'), h('dd', {}, timeEl(sub.last_delivery_at))),
        h('div', {}, h('dt', {}, 'Last success'), h('dd', {}, timeEl(sub.last_success_at))),
        h('div', {}, h('dt', {}, 'Last error'), h('dd', { class: 'last-error' }, sub.last_error || '—')),
        h('div', {}, h('dt', {}, 'Created'), h('dd', {}, timeEl(sub.created_at))))));
    showActions();
  }

  function action(label, run, kind) {
    const button = h('button', { type: 'button', class: kind || 'secondary' }, label);
    button.addEventListener('click', () => busy(button, run()).catch((err) => replace(result, errorBox(err))));
    return button;
  }

  function showActions() {
    if (!ctx.canManage) return;
    replace(actions,
      action('Send test event', async () => {
        replace(result, h('p', { class: 'muted' }, 'Sending a webhook.test event…'));
        const r = await api.testEndpoint(id);
        replace(result, h('div', { class: `panel ${r.success ? 'good' : 'notice'}`, 'data-testid': 'test-result' },
          h('p', {}, r.success ? 'The test event was delivered.' : 'The test event was not delivered.'),
          h('p', {}, `Answer: ${r.status_code === null ? 'none' : r.status_code} in ${r.duration_ms} ms${r.reason ? ` — ${r.reason}` : ''}.`)));
        await loadAttempts();
      }),
      action('Rotate secret', async () => {
        if (!window.confirm('Create a new signing secret? For 24 hours deliveries carry signatures from both the old and the new secret, so your receiver can switch over without missing one.')) return;
        sub = await api.rotateSecret(id);
        replace(result, secretBox(sub.secret, 'The new signing secret, shown only now. For the next 24 hours every delivery is signed with both the old and the new secret (two signatures in webhook-signature); after that, only with the new one. Update your receiver within the day.'), verificationSnippet());
        showSummary();
      }),
      sub.is_active ? null : action('Reactivate', async () => {
        sub = await api.reactivateEndpoint(id);
        toast('Endpoint reactivated.');
        replace(result);
        showSummary();
      }, 'primary'),
      sub.is_active ? action('Delete', async () => {
        if (!window.confirm(`Delete "${sub.name || sub.url}"? It stops receiving events at once; its history is kept.`)) return;
        await api.deleteEndpoint(id);
        toast('Endpoint deleted.');
        sub = await api.getEndpoint(id);
        replace(result);
        showSummary();
      }, 'danger') : null);
  }

  // The form always starts from the endpoint as it now is.
  function showEdit() {
    replace(editSlot, endpointForm({
      existing: sub,
      submitLabel: 'Save changes',
      onSubmit: async (body) => {
        if (!Object.keys(body).length) {
          toast('Nothing changed.');
          return;
        }
        sub = await api.updateEndpoint(id, body);
        toast('Saved.');
        showSummary();
        showEdit();
      },
    }));
  }

  async function loadAttempts() {
    try {
      const page = await api.attempts(id, { limit: PAGE, offset });
      replace(attempts, page.attempts.length
        ? page.attempts.map(attemptRow)
        : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No attempts yet.')));
      const { total } = page.pagination;
      const prev = h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onClick: () => { offset = Math.max(0, offset - PAGE); loadAttempts(); } }, 'Newer');
      const next = h('button', { type: 'button', class: 'secondary', disabled: offset + PAGE >= total, onClick: () => { offset += PAGE; loadAttempts(); } }, 'Older');
      replace(pager, total > PAGE ? [prev, h('span', {}, `${offset + 1}–${Math.min(offset + PAGE, total)} of ${total}`), next] : null);
    } catch (err) {
      replace(attempts, h('tr', {}, h('td', { colspan: 6 }, errorBox(err))));
    }
  }

  replace(main,
    h('p', {}, h('a', { href: '#/endpoints' }, '← All endpoints')),
    head, summary, actions, result,
    ctx.canManage ? [h('h2', { id: 'edit-title' }, 'Edit'), editSlot] : null,
    h('h2', { id: 'attempts-title' }, 'Attempts'),
    h('div', { class: 'table-wrap' },
      h('table', { 'aria-labelledby': 'attempts-title' },
        h('thead', {}, h('tr', {}, ['When', 'Event', 'Answer', 'Reason', 'Took', 'Response'].map((c) => h('th', { scope: 'col' }, c)))),
        attempts)),
    pager);

  (async () => {
    try {
      sub = await api.getEndpoint(id);
    } catch (err) {
      replace(head, h('h1', {}, 'Endpoint'));
      replace(summary, errorBox(err));
      return;
    }
    showSummary();
    if (ctx.canManage) showEdit();
    loadAttempts();
  })();
}
