import type { Session } from '../lib/session';
import type { ConnView } from '../lib/connection';
import { peersFromAwareness } from '../lib/presence';
import { initials, PALETTE } from '../lib/user';
import { carriedQuery, PAGES, pageInfo, pagePath, shareLink, type PageKind } from '../lib/urls';
import { clear, copyText, h } from './dom';

export function brand(): HTMLAnchorElement {
  return h('a', { class: 'brand', href: `/${carriedQuery(location.search)}`, title: 'All documents' },
    h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, 'W'),
    h('span', { class: 'brand-name' }, 'Weft'));
}

export function statusPill(session: Session): HTMLElement {
  const pill = h('button', { class: 'status', type: 'button', 'data-testid': 'status' });
  const dot = h('span', { class: 'status-dot' });
  const label = h('span', { class: 'status-label' });
  pill.append(dot, label);
  pill.addEventListener('click', () => {
    const st = pill.dataset.state;
    if (st === 'offline' || st === 'denied' || st === 'reconnecting') session.goOnline();
    else if (st === 'connected') session.goOffline();
  });
  session.tracker.subscribe((v: ConnView) => {
    pill.dataset.state = v.state;
    label.textContent = v.label;
    pill.title =
      v.state === 'connected' ? 'Connected — click to work offline'
        : v.state === 'connecting' ? 'Connecting to the server'
          : 'Click to reconnect now';
  });
  return pill;
}

export function banner(session: Session): HTMLElement {
  const el = h('div', { class: 'banner', role: 'status', 'aria-live': 'polite', 'data-testid': 'banner', hidden: true });
  session.tracker.subscribe((v) => {
    el.hidden = !v.banner;
    el.dataset.state = v.state;
    el.textContent = v.banner ?? '';
  });
  return el;
}

function avatar(name: string, color: string, extra = '', title = name): HTMLElement {
  return h('span', { class: `avatar ${extra}`, style: `background:${color}`, title }, initials(name));
}

export function avatars(session: Session): HTMLElement {
  const box = h('div', { class: 'avatars', 'data-testid': 'avatars' });
  const render = () => {
    const peers = peersFromAwareness(session.provider.awareness.getStates() as Map<number, any>, session.ydoc.clientID);
    clear(box);
    const shown = peers.slice(0, 6);
    for (const p of shown) {
      const a = avatar(p.name, p.color, p.self ? 'self' : '', p.self ? `${p.name} (you)` : p.name);
      a.dataset.name = p.name;
      box.append(a);
    }
    if (peers.length > shown.length) box.append(h('span', { class: 'avatar more', title: peers.slice(6).map((p) => p.name).join(', ') }, `+${peers.length - shown.length}`));
    box.dataset.count = String(peers.length);
  };
  session.provider.awareness.on('change', render);
  render();
  return box;
}

export function userMenu(session: Session, onChange?: () => void): HTMLElement {
  const details = h('details', { class: 'menu user-menu' });
  const summaryAvatar = avatar(session.user.name, session.user.color);
  const summary = h('summary', { class: 'menu-button', title: 'Your name and colour' }, summaryAvatar);
  const nameInput = h('input', { class: 'input', type: 'text', maxlength: 40, value: session.user.name, 'aria-label': 'Your name', 'data-testid': 'user-name' });
  const colorInput = h('input', { type: 'color', value: session.user.color, 'aria-label': 'Your colour', 'data-testid': 'user-color' });
  const swatches = h('div', { class: 'swatches' });
  const apply = (patch: { name?: string; color?: string }) => {
    const u = session.setUser(patch);
    summaryAvatar.textContent = initials(u.name);
    summaryAvatar.style.background = u.color;
    summaryAvatar.title = u.name;
    colorInput.value = u.color;
    onChange?.();
  };
  for (const c of PALETTE) {
    swatches.append(h('button', { type: 'button', class: 'swatch', style: `background:${c}`, title: c, onclick: () => apply({ color: c }) }));
  }
  nameInput.addEventListener('change', () => apply({ name: nameInput.value }));
  nameInput.addEventListener('keydown', (e) => {
    if ((e as KeyboardEvent).key === 'Enter') {
      apply({ name: nameInput.value });
      details.open = false;
    }
  });
  colorInput.addEventListener('input', () => apply({ color: colorInput.value }));
  details.append(summary, h('div', { class: 'menu-panel' },
    h('label', { class: 'field' }, h('span', {}, 'Your name'), nameInput),
    h('div', { class: 'field' }, h('span', {}, 'Your colour'), h('div', { class: 'color-row' }, swatches, colorInput)),
    h('p', { class: 'hint' }, 'Shown to others next to your cursor. Remembered on this device.')));
  return details;
}

export function shareMenu(session: Session, kind: PageKind): HTMLElement {
  const link = shareLink(location.origin, session.docName, location.search, kind);
  const input = h('input', { class: 'input mono', type: 'text', readonly: true, value: link, 'aria-label': 'Share link', 'data-testid': 'share-link' });
  input.addEventListener('focus', () => input.select());
  const copyBtn = h('button', { class: 'btn primary', type: 'button', 'data-testid': 'copy-link' }, 'Copy link');
  copyBtn.addEventListener('click', async () => {
    const ok = await copyText(link, input);
    copyBtn.textContent = ok ? 'Copied!' : 'Press Ctrl+C';
    setTimeout(() => (copyBtn.textContent = 'Copy link'), 1800);
  });
  // The same document name in the other editors (each reads its own part of the Yjs document).
  const others = h('p', { class: 'hint other-editors', 'data-testid': 'other-editors' }, 'Open this name in: ');
  PAGES.filter((p) => p.kind !== kind).forEach((p, i) => {
    if (i > 0) others.append(' · ');
    others.append(h('a', { href: pagePath(p.kind, session.docName) + carriedQuery(location.search), 'data-kind': p.kind }, p.label));
  });
  return h('details', { class: 'menu share-menu' },
    h('summary', { class: 'btn primary' }, 'Share'),
    h('div', { class: 'menu-panel wide' },
      h('div', { class: 'field' }, h('span', {}, 'Anyone with the link can edit'), h('div', { class: 'row' }, input, copyBtn)),
      others));
}

/** Close open <details> menus on outside click / Escape. */
export function installMenuDismiss(): void {
  document.addEventListener('click', (e) => {
    for (const d of document.querySelectorAll<HTMLDetailsElement>('details.menu[open]')) {
      if (!d.contains(e.target as Node)) d.open = false;
    }
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') for (const d of document.querySelectorAll<HTMLDetailsElement>('details.menu[open]')) d.open = false;
  });
}

export function topBar(session: Session, kind: PageKind, onUserChange?: () => void): HTMLElement {
  const title = h('div', { class: 'doc-title' },
    h('span', { class: 'doc-name', 'data-testid': 'doc-name', title: session.docName }, session.docName),
    session.readOnly ? h('span', { class: 'badge', 'data-testid': 'readonly-badge' }, 'Read-only') : null,
    kind !== 'doc' ? h('span', { class: 'badge subtle', 'data-testid': 'page-badge' }, pageInfo(kind).label) : null);
  return h('header', { class: 'topbar' },
    h('div', { class: 'topbar-left' }, brand(), h('span', { class: 'sep' }, '/'), title),
    h('div', { class: 'topbar-right' }, statusPill(session), avatars(session), userMenu(session, onUserChange), shareMenu(session, kind)));
}
