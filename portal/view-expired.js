// The page an expired, revoked, used or missing link lands on: what happened, and who can
// give a new link.

import { h, replace } from './dom.js';

export function render(main, { branding }) {
  document.title = `Link expired · ${branding.product_name}`;
  replace(main,
    h('section', { class: 'panel expired', 'aria-labelledby': 'expired-title' },
      h('h1', { id: 'expired-title' }, 'This link has expired'),
      h('p', {}, `For your security, a link to this page opens it once, for a limited time. Ask ${branding.product_name} for a new one.`),
      h('p', { class: 'muted' }, 'Nothing you set up has changed: your endpoints keep receiving events.')));
}
