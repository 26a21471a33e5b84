// The portal's entry point: trades the magic link for a session, applies the operator's
// branding, and shows one view per address (#/endpoints, #/endpoints/<id>, #/failures).
// Each view is its own module; each may return a function that stops what it started (the
// failures view polls while a retrigger is pending). A session without the manage scope (a
// read-only link) sees every view without the controls that change anything.

import { api, openLink, useSession } from './api.js';
import { h, replace } from './dom.js';
import * as endpointsView from './view-endpoints.js';
import * as endpointView from './view-endpoint.js';
import * as failuresView from './view-failures.js';
import * as expiredView from './view-expired.js';

const SESSION_KEY = 'hookpost.portal.session';
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const branding = { product_name: 'hookpost', logo_url: null, accent_color: null };
const MANAGE = 'tasks.webhooks.manage';
let stopView = null;
let expired = false;
let canManage = false;

// The link carries a single-use secret in its fragment (#session=hp_pl_…), which no server
// sees. It leaves the address bar at once (so neither a bookmark, a screenshot nor a shared
// screen shows it) and is traded, once, for a session kept in this tab's session storage: a
// reload keeps working, and the link — in an inbox, a chat, the browser's history — opens
// nothing a second time. A link issued before links were single-use carries the session
// itself (hp_ps_…) and is kept as it is.
async function takeSession() {
  const fromLink = new URLSearchParams(location.hash.slice(1)).get('session');
  if (fromLink) {
    history.replaceState(null, '', location.pathname + location.search + '#/endpoints');
    sessionStorage.removeItem(SESSION_KEY);
    if (fromLink.startsWith('hp_pl_')) {
      try {
        sessionStorage.setItem(SESSION_KEY, (await openLink(fromLink)).session);
      } catch (err) {
        if (err.status !== 401) throw err;
      }
    } else {
      sessionStorage.setItem(SESSION_KEY, fromLink);
    }
  }
  return sessionStorage.getItem(SESSION_KEY);
}

async function loadBranding() {
  try {
    const res = await fetch('portal/branding.json', { cache: 'no-cache', credentials: 'omit' });
    if (res.ok) Object.assign(branding, await res.json());
  } catch {
    // The defaults stand.
  }
  document.getElementById('product').textContent = branding.product_name;
  document.title = `${branding.product_name} · Webhooks`;
  if (branding.accent_color) document.documentElement.style.setProperty('--accent', branding.accent_color);
  const logo = document.getElementById('logo');
  if (branding.logo_url) {
    logo.src = branding.logo_url;
    logo.alt = `${branding.product_name} logo`;
    logo.hidden = false;
  }
}

function showExpired() {
  if (expired) return;
  expired = true;
  sessionStorage.removeItem(SESSION_KEY);
  if (stopView) stopView();
  stopView = null;
  nav.hidden = true;
  expiredView.render(main, { branding });
}

function route() {
  if (expired) return;
  const hash = location.hash || '#/endpoints';
  if (!hash.startsWith('#/')) return;
  const [section, id] = hash.slice(2).split('/');
  if (stopView) stopView();
  stopView = null;
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const ctx = { branding, canManage, navigate: (to) => { location.hash = to; } };
  let view;
  if (section === 'endpoints' && id) view = endpointView.render(main, ctx, decodeURIComponent(id));
  else if (section === 'failures') view = failuresView.render(main, ctx);
  else view = endpointsView.render(main, ctx);
  stopView = typeof view === 'function' ? view : null;
  main.focus({ preventScroll: true });
}

async function start() {
  const [session] = await Promise.all([
    takeSession().catch((err) => {
      replace(main, h('div', { class: 'error', role: 'alert' }, h('p', {}, err.message)));
      return undefined;
    }),
    loadBranding(),
  ]);
  if (session === undefined) return;
  if (!session) {
    showExpired();
    return;
  }
  useSession(session, showExpired);
  try {
    const me = await api.me();
    if (expired) return;
    document.getElementById('product').textContent = `${branding.product_name} · ${me.account_name}`;
    canManage = me.scopes.includes(MANAGE);
    document.getElementById('read-only').hidden = canManage;
  } catch (err) {
    if (expired) return;
    replace(main, h('div', { class: 'error', role: 'alert' }, h('p', {}, err.message)));
    return;
  }
  nav.hidden = false;
  window.addEventListener('hashchange', route);
  route();
}

start();
