/**
 * The "On this server" section of `/`: the server's documents (`GET /api/v1/documents`), a
 * name-prefix filter and cursor paging. When the server refuses the list (auth) or has no
 * API, the section says so in one line and the rest of the page keeps working.
 */
import type { DocumentApi, DocumentSummary } from '../lib/api';
import { formatBytes } from '../lib/api';
import { LIST_PAGE_SIZE, listProblem, pageKindFor, Pager } from '../lib/doc-list';
import { checkDocName } from '../lib/names';
import { formatAgo, type RecentDoc } from '../lib/recent';
import { PAGES, pagePath, type PageKind } from '../lib/urls';
import { clear, h } from './dom';

export interface ServerDocsOptions {
  api: DocumentApi;
  /** this device's recent documents (newest first), read at each render */
  recent: () => RecentDoc[];
  /** query string carried to the document pages (`?server=`) */
  query: string;
  /** icon per page kind */
  icons: Record<PageKind, string>;
  /** the filter's starting value (a token's scope, which listing must stay inside) */
  prefix?: string;
  pageSize?: number;
}

/** Wait this long after the last keystroke in the filter before asking the server. */
const FILTER_DEBOUNCE_MS = 200;

export function serverDocuments(opts: ServerDocsOptions): HTMLElement {
  const pageSize = opts.pageSize ?? LIST_PAGE_SIZE;
  const pager = new Pager();
  const filter = h('input', {
    class: 'input', type: 'search', placeholder: 'Filter: names starting with…', value: opts.prefix ?? '',
    autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Show documents whose name starts with', 'data-testid': 'server-docs-filter',
  });
  const list = h('ul', { class: 'recent', 'data-testid': 'server-docs-list' });
  const note = h('p', { class: 'hint list-note', 'data-testid': 'server-docs-note', 'aria-live': 'polite', hidden: true });
  const prev = h('button', { class: 'btn ghost', type: 'button', 'data-testid': 'server-docs-prev' }, '← Previous');
  const next = h('button', { class: 'btn ghost', type: 'button', 'data-testid': 'server-docs-next' }, 'Next →');
  const pageLabel = h('span', { class: 'hint', 'data-testid': 'server-docs-page' });
  const pagerBox = h('div', { class: 'pager', hidden: true }, prev, pageLabel, next);
  const section = h('section', { class: 'card', 'data-testid': 'server-docs', 'data-state': 'loading' },
    h('h2', {}, 'On this server'), filter, note, list, pagerBox);

  let nextCursor: string | null = null;
  let inFlight: AbortController | null = null;

  const say = (text: string | null) => {
    note.hidden = text === null;
    note.textContent = text ?? '';
  };

  const render = (docs: DocumentSummary[]) => {
    clear(list);
    const recent = opts.recent();
    for (const d of docs) list.append(row(d, pageKindFor(d.name, recent), opts));
    const prefix = filter.value;
    if (docs.length === 0) {
      say(pager.hasPrevious ? 'No more documents.'
        : prefix ? `No document names start with “${prefix}”.` : 'No documents on this server yet: create one above.');
    } else say(null);
    pagerBox.hidden = !pager.hasPrevious && nextCursor === null;
    prev.disabled = !pager.hasPrevious;
    next.disabled = nextCursor === null;
    pageLabel.textContent = `Page ${pager.page}`;
  };

  const load = async () => {
    inFlight?.abort();
    const ctrl = new AbortController();
    inFlight = ctrl;
    section.dataset.state = 'loading';
    section.setAttribute('aria-busy', 'true');
    try {
      const prefix = filter.value;
      const page = await opts.api.listDocuments({ prefix, cursor: pager.cursor, limit: pageSize }, ctrl.signal);
      if (ctrl.signal.aborted) return;
      nextCursor = page.nextCursor;
      render(page.documents);
      section.dataset.state = 'ready';
      // What the rows show (for tests and styling): the filter they were listed with.
      section.dataset.filter = prefix;
    } catch (e) {
      if (ctrl.signal.aborted) return;
      const problem = listProblem(e);
      clear(list);
      pagerBox.hidden = true;
      // Refused or absent: the filter cannot help, so it goes; a failure keeps it to retry with.
      filter.hidden = problem.kind !== 'failed';
      say(problem.message);
      section.dataset.state = problem.kind;
    } finally {
      if (inFlight === ctrl) section.removeAttribute('aria-busy');
    }
  };

  let debounce: ReturnType<typeof setTimeout> | undefined;
  filter.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      pager.reset();
      void load();
    }, FILTER_DEBOUNCE_MS);
  });
  next.addEventListener('click', () => {
    if (nextCursor === null) return;
    pager.next(nextCursor);
    void load();
  });
  prev.addEventListener('click', () => {
    pager.previous();
    void load();
  });
  void load();
  return section;
}

/** One listed document: its link (to the page this device used for it, else rich text) and the other pages. */
function row(d: DocumentSummary, kind: PageKind, opts: ServerDocsOptions): HTMLElement {
  const when = Date.parse(d.updated_at);
  const meta = [
    Number.isFinite(when) ? `updated ${formatAgo(when)}` : '',
    formatBytes(d.size_bytes),
    d.connections > 0 ? `${d.connections} open` : '',
  ].filter(Boolean).join(' · ');
  const label = PAGES.find((p) => p.kind === kind)?.label ?? '';
  const body = [
    h('span', { class: `doc-icon ${kind}`, 'aria-hidden': 'true', title: label }, opts.icons[kind]),
    h('span', { class: 'recent-name' }, d.name),
    h('span', { class: 'recent-when' }, meta),
  ];
  // A name the pages cannot open (a `.`/`..` segment) is listed without links.
  if (!checkDocName(d.name).ok) {
    return h('li', { 'data-testid': 'server-doc', 'data-name': d.name }, h('span', { class: 'recent-link' }, ...body));
  }
  const others = h('span', { class: 'open-in' }, ...PAGES.filter((p) => p.kind !== kind).map((p) =>
    h('a', { class: 'open-in-link', href: pagePath(p.kind, d.name) + opts.query, title: `Open in ${p.label}`, 'aria-label': `Open ${d.name} in ${p.label}`, 'data-kind': p.kind }, opts.icons[p.kind])));
  return h('li', { 'data-testid': 'server-doc', 'data-name': d.name },
    h('a', { class: 'recent-link', href: pagePath(kind, d.name) + opts.query, 'data-kind': kind }, ...body),
    others);
}
