// Building the page without ever parsing a string as HTML: every element is created by
// name, every piece of text goes in as a text node. A URL, a name or a response excerpt
// written by someone else (`<img src=x onerror=...>`) shows as exactly those characters.

export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.className = value;
    } else if (key === 'value') {
      el.value = value;
    } else if (key === 'checked' || key === 'disabled' || key === 'hidden' || key === 'required' || key === 'selected') {
      el[key] = Boolean(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// Unique ids for label/input pairs.
let nextId = 0;
export const uid = (prefix) => `${prefix}-${++nextId}`;

// A labelled form control: <div class="field"><label for=…>…</label><control id=…>…</div>.
export function field(label, control, hint) {
  const id = control.id || uid('f');
  control.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: id + '-hint' }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function timeEl(iso) {
  return iso ? h('time', { datetime: iso }, when(iso)) : '—';
}

// A short message read out by screen readers and shown for a few seconds.
let toastTimer = null;
export function toast(message, kind = 'info') {
  const el = document.getElementById('toast');
  el.className = `toast show ${kind}`;
  el.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.className = 'toast'; }, 6000);
}

// An error from the API, in words, with its field issues when it has them.
export function errorBox(err) {
  const issues = (err.issues || []).map((i) => h('li', {}, `${i.field}: ${i.message}`));
  return h('div', { class: 'error', role: 'alert' },
    h('p', {}, err.message || String(err)),
    issues.length ? h('ul', {}, issues) : null);
}

export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    toast('Copied to the clipboard.');
  } catch {
    // No clipboard permission (an embedding frame, an old browser): select it instead.
    const target = button && button.previousElementSibling;
    if (target) window.getSelection().selectAllChildren(target);
    toast('Press Ctrl+C (⌘C) to copy the selected text.');
  }
}

// A secret shown this once, with a copy button.
export function secretBox(secret, intro) {
  const code = h('code', { class: 'secret', 'data-testid': 'secret' }, secret);
  const button = h('button', { type: 'button', class: 'secondary', onClick: () => copy(secret, button) }, 'Copy secret');
  return h('div', { class: 'panel notice', role: 'region', 'aria-label': 'Signing secret' },
    h('p', {}, intro),
    h('div', { class: 'secret-row' }, code, button));
}

export function busy(button, promise) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  return promise.finally(() => {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  });
}

// The status of an endpoint at a glance.
export function endpointStatus(sub) {
  if (sub.is_active) return h('span', { class: 'badge ok' }, 'Active');
  if (sub.disabled_reason === 'deleted') return h('span', { class: 'badge muted' }, 'Deleted');
  return h('span', { class: 'badge bad' }, 'Auto-disabled');
}

export function failureStatus(status) {
  const kind = { inactive: 'bad', pending: 'warn', resolved: 'ok' }[status] || 'muted';
  return h('span', { class: `badge ${kind}`, 'data-status': status }, status);
}
