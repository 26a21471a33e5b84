// Endpoints: every subscription of the account with its health at a glance, and the form
// that adds one (its signing secret shown this once). The form is shared with the
// endpoint view, which edits with it.

import { api } from './api.js';
import { h, replace, field, timeEl, errorBox, secretBox, busy, endpointStatus, toast } from './dom.js';

const PAGE = 25;

// What a customer needs to check a delivery, from the README's "verify the signature".
export function verificationSnippet() {
  return h('details', { class: 'snippet' },
    h('summary', {}, 'How to verify a delivery'),
    h('p', {}, 'Every delivery is signed the Standard Webhooks way. Verify it on the raw request body with the stock library and this secret:'),
    h('pre', {}, h('code', {}, [
      '# pip install standardwebhooks',
      'from standardwebhooks.webhooks import Webhook',
      '',
      'wh = Webhook(secret)                            # "whsec_..."',
      'payload = wh.verify(raw_body, request_headers)  # raises if forged or stale',
    ].join('\n'))),
    h('pre', {}, h('code', {}, [
      '// npm install standardwebhooks',
      'import { Webhook } from "standardwebhooks";',
      '',
      'const wh = new Webhook(secret.replace(/^whsec_/, ""));',
      'const payload = wh.verify(rawBody, req.headers); // throws if forged or stale',
    ].join('\n'))));
}

function parseHeaders(text) {
  const headers = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const at = line.indexOf(':');
    if (at < 1) throw new Error(`"${line.trim()}" is not a header: write it as Name: value`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

// What an endpoint's delivery control says, in words (SPEC §10).
export function rateLimitText(sub) {
  return sub.rate_limit === null ? 'no limit' : `at most ${sub.rate_limit} a second`;
}

export function orderingText(sub) {
  return sub.ordering === 'fifo' ? 'one at a time, in order (per ordering key)' : 'as they come';
}

export function filterText(sub) {
  return sub.filter ? JSON.stringify(sub.filter) : 'none: every event its types select';
}

// The deployment's event types (SPEC §11), where the endpoint chooses its events: each with
// its description and example, and a button that adds it to the list. Loaded after the
// form is shown; a catalogue that cannot be read leaves the form usable.
function catalogue(events, sample) {
  const list = h('ul', { class: 'catalogue' }, h('li', { class: 'empty' }, 'Loading the event types…'));
  const box = h('details', { class: 'catalogue-box' },
    h('summary', {}, 'Event types you can choose'), list);
  api.eventTypes({ limit: 100 }).then((page) => {
    const types = page.event_types;
    if (!types.length) {
      replace(list, h('li', { class: 'empty' }, 'This service lists no event types: name the ones you want, or leave the list empty.'));
      return;
    }
    replace(list, types.map((t) => {
      const add = h('button', { type: 'button', class: 'secondary small', 'aria-label': `Add ${t.name}` }, 'Add');
      add.addEventListener('click', () => {
        const chosen = events.value.split(/[\s,]+/).filter(Boolean);
        if (!chosen.includes(t.name)) events.value = chosen.concat(t.name).join(', ');
        if (t.example && !sample.value.trim()) {
          sample.value = JSON.stringify({ event: t.name, channel_id: null, data: t.example }, null, 2);
        }
      });
      return h('li', { 'data-event-type': t.name },
        h('div', { class: 'type-head' }, h('code', {}, t.name), t.deprecated ? h('span', { class: 'badge muted' }, 'deprecated') : null, add),
        h('p', {}, t.description),
        t.example ? h('pre', { class: 'example' }, h('code', {}, JSON.stringify(t.example, null, 2))) : null);
    }));
  }).catch((err) => replace(list, h('li', {}, errorBox(err))));
  return box;
}

// A JSON text area's value: undefined when empty, else the parsed value (or a thrown error
// naming the field).
function jsonOf(label, text) {
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${label}: not valid JSON.`);
  }
}

// The endpoint form: URL, name, events (with the catalogue), headers, authentication, rate
// limit, ordering and a content filter that can be tried on a sample event first.
// `existing` fills it for an edit; credentials are write-only, so an edit leaves them as
// they are unless changed.
export function endpointForm({ existing, submitLabel, onSubmit }) {
  const url = h('input', { type: 'url', name: 'url', required: true, value: existing ? existing.url : '', placeholder: 'https://example.com/webhooks', autocomplete: 'off' });
  const name = h('input', { type: 'text', name: 'name', value: existing ? existing.name : '', maxlength: 200 });
  const events = h('input', { type: 'text', name: 'events', value: existing ? existing.events.join(', ') : '', placeholder: 'call.ended, sms.sent' });
  const headers = h('textarea', { name: 'headers', rows: 3, placeholder: 'X-Team: billing' });
  const authMethod = h('select', { name: 'auth' },
    existing ? h('option', { value: 'keep' }, 'Leave as it is') : null,
    h('option', { value: 'none' }, 'None'),
    h('option', { value: 'basic' }, 'Basic (username and password)'),
    h('option', { value: 'bearer' }, 'Bearer token'));
  const username = h('input', { type: 'text', name: 'username', autocomplete: 'off' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'new-password' });
  const bearer = h('input', { type: 'password', name: 'bearer', autocomplete: 'new-password' });
  const basicFields = h('div', { class: 'auth-fields', hidden: true }, field('Username', username), field('Password', password));
  const bearerFields = h('div', { class: 'auth-fields', hidden: true }, field('Token', bearer));
  // Left empty on a new endpoint: the deployment's default limit applies.
  const rateLimit = h('input', {
    type: 'number', name: 'rate_limit', min: 1, max: 10000, step: 1, inputmode: 'numeric',
    value: existing && existing.rate_limit !== null ? String(existing.rate_limit) : '',
    placeholder: existing ? 'no limit' : 'the default',
  });
  const noLimit = h('input', { type: 'checkbox', name: 'no_limit', checked: Boolean(existing && existing.rate_limit === null) });
  const ordering = h('select', { name: 'ordering' },
    h('option', { value: 'unordered', selected: !existing || existing.ordering !== 'fifo' }, 'As they come (fastest)'),
    h('option', { value: 'fifo', selected: Boolean(existing && existing.ordering === 'fifo') }, 'One at a time, in order'));
  const filter = h('textarea', {
    name: 'filter', rows: 4, class: 'code',
    placeholder: '{"data": {"amount": [{"numeric": [">=", 1000]}]}}',
  });
  filter.value = existing && existing.filter ? JSON.stringify(existing.filter, null, 2) : '';
  const sample = h('textarea', { name: 'sample', rows: 5, class: 'code', placeholder: '{"event": "invoice.paid", "channel_id": null, "data": {"amount": 1200}}' });
  const tryFilter = h('button', { type: 'button', class: 'secondary' }, 'Test the filter');
  const verdict = h('div', { class: 'filter-verdict', 'aria-live': 'polite' });
  tryFilter.addEventListener('click', () => {
    replace(verdict);
    let body;
    try {
      const pattern = jsonOf('Filter', filter.value);
      if (pattern === undefined) throw new Error('Filter: write one to test it.');
      const event = jsonOf('Sample event', sample.value);
      if (event === undefined) throw new Error('Sample event: write one (or add an event type with an example).');
      body = { filter: pattern, event };
    } catch (err) {
      replace(verdict, errorBox(err));
      return;
    }
    busy(tryFilter, api.testFilter(body)).then((answer) => {
      replace(verdict, h('p', { class: answer.matches ? 'matches yes' : 'matches no' },
        answer.matches ? 'Matches: this event would be delivered.' : 'Does not match: this event would not be delivered.'));
    }).catch((err) => replace(verdict, errorBox(err)));
  });
  const showLimit = () => { rateLimit.disabled = noLimit.checked; };
  noLimit.addEventListener('change', showLimit);
  showLimit();
  const showAuth = () => {
    basicFields.hidden = authMethod.value !== 'basic';
    bearerFields.hidden = authMethod.value !== 'bearer';
  };
  authMethod.addEventListener('change', showAuth);
  const problems = h('div', { class: 'form-errors' });
  const submit = h('button', { type: 'submit' }, submitLabel);
  const form = h('form', { class: 'panel form', novalidate: true },
    field('URL', url, 'Where each event is POSTed. HTTPS; redirects are not followed.'),
    field('Name', name),
    field('Events', events, 'Event types, separated by commas; "billing.*" takes every type under "billing.". Leave empty for every event.'),
    catalogue(events, sample),
    field('Extra headers', headers, existing
      ? 'One "Name: value" per line, sent with every delivery. Leave empty to keep the current ones; write "-" to remove them all.'
      : 'One "Name: value" per line, sent with every delivery.'),
    field('Authentication', authMethod, 'Sent with every delivery. Credentials are never shown again.'),
    basicFields, bearerFields,
    field('Rate limit (deliveries a second)', rateLimit, existing
      ? 'The most deliveries a second your endpoint gets; more wait their turn, they are never dropped.'
      : 'The most deliveries a second your endpoint gets; more wait their turn, they are never dropped. Leave empty for the default.'),
    h('label', { class: 'check' }, noLimit, ' No limit'),
    field('Order', ordering, 'In order: one event at a time, in the order they were sent, per ordering key; a failing event holds back the ones after it until its retries are done. Applies to events sent from now on.'),
    field('Filter', filter, 'Only the events this pattern matches (Amazon EventBridge event pattern syntax, over {"event", "channel_id", "data"}). Leave empty for every event.'),
    field('Sample event', sample, 'An event to try the filter on.'),
    h('div', { class: 'actions' }, tryFilter), verdict,
    problems, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    replace(problems);
    const body = {};
    try {
      if (!url.value.trim()) throw new Error('URL: enter the address that should receive events.');
      if (!existing || url.value.trim() !== existing.url) body.url = url.value.trim();
      if (!existing || name.value !== existing.name) body.name = name.value;
      const list = events.value.split(/[\s,]+/).filter(Boolean);
      if (!existing || list.join(',') !== existing.events.join(',')) body.events = list;
      if (headers.value.trim() === '-') body.headers = {};
      else if (headers.value.trim()) body.headers = parseHeaders(headers.value);
      if (authMethod.value === 'none') body.authentication = { method: 'none' };
      if (authMethod.value === 'basic') body.authentication = { method: 'basic', username: username.value, password: password.value };
      if (authMethod.value === 'bearer') body.authentication = { method: 'bearer', token: bearer.value };
      if (noLimit.checked) {
        if (!existing || existing.rate_limit !== null) body.rate_limit = null;
      } else if (rateLimit.value.trim()) {
        const limit = Number(rateLimit.value);
        if (!Number.isInteger(limit) || limit < 1 || limit > 10000) throw new Error('Rate limit: a whole number of deliveries a second, 1 to 10000.');
        if (!existing || existing.rate_limit !== limit) body.rate_limit = limit;
      } else if (existing && existing.rate_limit !== null) {
        throw new Error('Rate limit: enter a number, or tick "No limit".');
      }
      if (!existing ? ordering.value !== 'unordered' : ordering.value !== existing.ordering) body.ordering = ordering.value;
      const pattern = jsonOf('Filter', filter.value);
      const before = existing && existing.filter ? JSON.stringify(existing.filter) : undefined;
      const after = pattern === undefined ? undefined : JSON.stringify(pattern);
      if (after !== before) body.filter = pattern === undefined ? null : pattern;
    } catch (err) {
      replace(problems, errorBox(err));
      return;
    }
    try {
      await busy(submit, onSubmit(body));
    } catch (err) {
      replace(problems, errorBox(err));
    }
  });
  return form;
}

function endpointCard(sub) {
  const health = [];
  if (!sub.is_active && sub.disabled_reason === 'auto_disabled') {
    health.push(h('p', { class: 'why' },
      `Auto-disabled after ${sub.consecutive_failures} failed events in a row; last attempt `,
      timeEl(sub.last_delivery_at), '.'));
  }
  return h('li', { class: 'card', 'data-endpoint': sub.id },
    h('div', { class: 'card-head' },
      h('a', { href: `#/endpoints/${encodeURIComponent(sub.id)}`, class: 'card-title' }, sub.name || sub.url),
      endpointStatus(sub)),
    h('p', { class: 'url' }, sub.url),
    health,
    h('dl', { class: 'facts' },
      h('div', {}, h('dt', {}, 'Failures in a row'), h('dd', {}, String(sub.consecutive_failures))),
      h('div', {}, h('dt', {}, 'Last success'), h('dd', {}, timeEl(sub.last_success_at))),
      h('div', {}, h('dt', {}, 'Last error'), h('dd', { class: 'last-error' }, sub.last_error || '—')),
      h('div', {}, h('dt', {}, 'Rate limit'), h('dd', { class: 'rate-limit' }, rateLimitText(sub)))));
}

export function render(main, ctx) {
  let offset = 0;
  const list = h('ul', { class: 'cards', 'aria-label': 'Endpoints' });
  const pager = h('div', { class: 'pager' });
  const created = h('div');
  const formSlot = h('div');
  const add = h('button', { type: 'button', 'aria-expanded': 'false' }, 'Add endpoint');
  add.addEventListener('click', () => {
    const open = add.getAttribute('aria-expanded') === 'true';
    add.setAttribute('aria-expanded', String(!open));
    replace(created);
    if (open) {
      replace(formSlot);
      return;
    }
    replace(formSlot, endpointForm({
      submitLabel: 'Create endpoint',
      onSubmit: async (body) => {
        const sub = await api.createEndpoint(body);
        replace(formSlot);
        add.setAttribute('aria-expanded', 'false');
        replace(created,
          secretBox(sub.secret, `Endpoint "${sub.name || sub.url}" created. This is its signing secret; it is shown only now. Store it where your receiver can read it.`),
          verificationSnippet());
        toast('Endpoint created.');
        await load();
      },
    }));
    formSlot.querySelector('input').focus();
  });

  async function load() {
    try {
      const page = await api.listEndpoints({ limit: PAGE, offset });
      const subs = page.subscriptions;
      replace(list, subs.length ? subs.map(endpointCard) : h('li', { class: 'empty' }, 'No endpoints yet. Add one to start receiving events.'));
      const { total } = page.pagination;
      const prev = h('button', { type: 'button', class: 'secondary', disabled: offset === 0, onClick: () => { offset = Math.max(0, offset - PAGE); load(); } }, 'Previous');
      const next = h('button', { type: 'button', class: 'secondary', disabled: offset + PAGE >= total, onClick: () => { offset += PAGE; load(); } }, 'Next');
      replace(pager, total > PAGE ? [prev, h('span', {}, `${offset + 1}–${Math.min(offset + PAGE, total)} of ${total}`), next] : null);
    } catch (err) {
      replace(list, h('li', {}, errorBox(err)));
    }
  }

  replace(main,
    h('div', { class: 'view-head' }, h('h1', {}, 'Endpoints'), ctx.canManage ? add : null),
    created, formSlot, list, pager);
  load();
}
