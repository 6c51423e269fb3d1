import { apiBaseUrl, createApi } from '../lib/api';
import { checkDocName, randomDocName } from '../lib/names';
import { formatAgo, loadRecent, removeRecent, type RecentDoc } from '../lib/recent';
import { defaultStorage } from '../lib/storage';
import { carriedQuery, docPath, isPageKind, PAGES, pagePath, tokenScope, type PageKind } from '../lib/urls';
import { brand } from '../ui/chrome';
import { clear, h } from '../ui/dom';
import { serverDocuments } from '../ui/server-docs';

const ICONS: Record<PageKind, string> = { doc: '¶', code: '{ }', monaco: 'M', quill: 'Q', data: '☑' };

export function renderHome(root: HTMLElement): void {
  document.title = 'Weft — documents';
  const store = defaultStorage();
  const q = carriedQuery(location.search);

  const input = h('input', {
    class: 'input big', type: 'text', name: 'name', placeholder: 'e.g. team/meeting-notes',
    autocomplete: 'off', spellcheck: 'false', maxlength: 256, 'aria-label': 'Document name', 'data-testid': 'new-doc-name',
  });
  const error = h('p', { class: 'form-error', 'data-testid': 'name-error', 'aria-live': 'polite' });
  const kindSelect = h('select', { class: 'input', 'aria-label': 'Editor', 'data-testid': 'new-doc-kind' },
    ...PAGES.map((p) => h('option', { value: p.kind }, p.label)));
  const submit = h('button', { class: 'btn primary big', type: 'submit', 'data-testid': 'create-doc' }, 'Open');
  const validate = (showEmpty: boolean) => {
    const r = checkDocName(input.value);
    const msg = r.ok || (!showEmpty && input.value === '') ? '' : r.reason;
    error.textContent = msg;
    input.setAttribute('aria-invalid', msg ? 'true' : 'false');
    return r;
  };
  input.addEventListener('input', () => validate(false));
  const form = h('form', { class: 'new-doc', novalidate: true },
    h('label', { class: 'form-label', for: 'new-doc-name' }, 'Create or open a document'),
    h('div', { class: 'row' }, input, kindSelect, submit),
    error,
    h('p', { class: 'hint' }, 'Letters, digits and - _ . ~ / (up to 256). The same name opens the same document for everyone.'));
  input.id = 'new-doc-name';
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const r = validate(true);
    if (!r.ok) {
      input.focus();
      return;
    }
    location.assign(pagePath(isPageKind(kindSelect.value) ? kindSelect.value : 'doc', r.name) + q);
  });
  const randomBtn = h('button', { class: 'btn ghost', type: 'button', 'data-testid': 'random-doc' }, 'New blank document');
  randomBtn.addEventListener('click', () => location.assign(docPath(randomDocName()) + q));

  const recentBox = h('ul', { class: 'recent', 'data-testid': 'recent' });
  const renderRecent = (list: RecentDoc[]) => {
    clear(recentBox);
    if (list.length === 0) {
      recentBox.append(h('li', { class: 'empty' }, 'No recent documents on this device yet.'));
      return;
    }
    for (const r of list) {
      const href = pagePath(r.kind, r.name) + q;
      const remove = h('button', { class: 'icon-btn', type: 'button', title: 'Remove from recent', 'aria-label': `Remove ${r.name} from recent` }, '×');
      remove.addEventListener('click', () => renderRecent(removeRecent(store, r.name, r.kind)));
      recentBox.append(h('li', {},
        h('a', { class: 'recent-link', href },
          h('span', { class: `doc-icon ${r.kind}`, 'aria-hidden': 'true', title: PAGES.find((p) => p.kind === r.kind)?.label }, ICONS[r.kind]),
          h('span', { class: 'recent-name' }, r.name),
          h('span', { class: 'recent-when' }, formatAgo(r.openedAt))),
        remove));
    }
  };
  renderRecent(loadRecent(store));

  // Every editor, each on a fresh document (the same name works in all of them).
  const editors = h('ul', { class: 'editors', 'data-testid': 'editors' });
  for (const p of PAGES) {
    const href = pagePath(p.kind, randomDocName()) + q;
    editors.append(h('li', {},
      h('a', { class: 'recent-link', href, 'data-testid': `editor-link-${p.kind}` },
        h('span', { class: `doc-icon ${p.kind}`, 'aria-hidden': 'true' }, ICONS[p.kind]),
        h('span', { class: 'editor-text' },
          h('span', { class: 'recent-name' }, p.label),
          h('span', { class: 'editor-blurb' }, `${p.prefix}{name} — ${p.blurb}`)))));
  }

  // The server's own list (GET /api/v1/documents); `?token=` authorises it like the editors' API calls.
  const token = new URLSearchParams(location.search).get('token');
  const onServer = serverDocuments({
    api: createApi({ base: apiBaseUrl(location, import.meta.env.VITE_WEFT_URL), token }),
    recent: () => loadRecent(store),
    query: q,
    icons: ICONS,
    prefix: token ? tokenScope(token) : undefined,
  });

  root.append(
    h('header', { class: 'topbar' }, h('div', { class: 'topbar-left' }, brand())),
    h('main', { class: 'home' },
      h('section', { class: 'card' }, h('h1', {}, 'Documents'), form, h('div', { class: 'or' }, randomBtn)),
      onServer,
      h('section', { class: 'card' }, h('h2', {}, 'Recent on this device'), recentBox),
      h('section', { class: 'card' }, h('h2', {}, 'Editors'), editors)));
  input.focus();
}
