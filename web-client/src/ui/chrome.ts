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

/**
 * The other people in the document (you are the user menu's button, see {@link userMenu}).
 * `data-count` is how many others are here.
 */
export function avatars(session: Session): HTMLElement {
  const box = h('div', { class: 'avatars', 'data-testid': 'avatars', 'aria-label': 'Also here' });
  const render = () => {
    const states = session.provider.awareness.getStates() as Map<number, any>;
    const others = peersFromAwareness(states, session.ydoc.clientID).filter((p) => !p.self);
    const me = session.user;
    clear(box);
    const shown = others.slice(0, 6);
    for (const p of shown) {
      // The same name and colour as yours: most likely you, in another tab or on another device.
      const twin = p.name === me.name && p.color === me.color;
      const a = avatar(p.name, p.color, 'other', twin ? `${p.name} (you, in another tab or device)` : p.name);
      a.dataset.name = p.name;
      box.append(a);
    }
    if (others.length > shown.length) box.append(h('span', { class: 'avatar more', title: others.slice(6).map((p) => p.name).join(', ') }, `+${others.length - shown.length}`));
    box.dataset.count = String(others.length);
    box.hidden = others.length === 0;
  };
  session.provider.awareness.on('change', render);
  render();
  return box;
}

/** You, once: your avatar (marked "you") is the button of the menu that changes your name and colour. */
export function userMenu(session: Session, onChange?: () => void): HTMLElement {
  const details = h('details', { class: 'menu user-menu' });
  const summaryAvatar = avatar(session.user.name, session.user.color, 'self');
  const you = h('span', { class: 'you-tag', 'aria-hidden': 'true' }, 'you');
  const summary = h('summary', { class: 'menu-button', 'data-testid': 'self-avatar' }, summaryAvatar, you);
  const label = (name: string) => {
    summary.title = `You (${name}): change your name and colour`;
    summary.setAttribute('aria-label', summary.title);
    summary.dataset.name = name;
    summaryAvatar.title = summary.title;
  };
  label(session.user.name);
  const nameInput = h('input', { class: 'input', type: 'text', maxlength: 40, value: session.user.name, 'aria-label': 'Your name', 'data-testid': 'user-name' });
  const colorInput = h('input', { type: 'color', value: session.user.color, 'aria-label': 'Your colour', 'data-testid': 'user-color' });
  const swatches = h('div', { class: 'swatches' });
  const apply = (patch: { name?: string; color?: string }) => {
    const u = session.setUser(patch);
    summaryAvatar.textContent = initials(u.name);
    summaryAvatar.style.background = u.color;
    label(u.name);
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
