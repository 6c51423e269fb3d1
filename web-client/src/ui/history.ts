import * as Y from 'yjs';
import { ApiError, formatBytes, versionTitle, type DocumentApi, type Version } from '../lib/api';
import { formatAgo } from '../lib/recent';
import { clear, h } from './dom';

export interface PreviewHandle {
  destroy(): void;
}

export interface HistoryOptions {
  docName: string;
  api: DocumentApi;
  readOnly: boolean;
  /** Render a non-editable view of `doc` into `mount` (the rich-text page's own schema). */
  renderPreview(mount: HTMLElement, doc: Y.Doc): PreviewHandle;
  /** Called with true while a version is shown instead of the live document. */
  onPreview(previewing: boolean): void;
}

export interface HistoryPanel {
  /** toolbar toggle */
  button: HTMLButtonElement;
  /** side panel: the version list, "Save version" */
  panel: HTMLElement;
  /** goes next to the live editor: the read-only preview of one version */
  preview: HTMLElement;
  open(): Promise<void>;
  close(): void;
  refresh(): Promise<void>;
  setReadOnly(readOnly: boolean): void;
}

function message(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  return e instanceof Error && e.message ? e.message : 'Something went wrong.';
}

/**
 * The version-history panel of the rich-text editor: list versions, save one,
 * preview one read-only, restore it (after a confirm). All server calls go
 * through `api`; problem+json `detail`s are shown as they come.
 */
export function historyPanel(opts: HistoryOptions): HistoryPanel {
  let readOnly = opts.readOnly;
  let versions: Version[] = [];
  let selected: Version | null = null;
  let previewHandle: PreviewHandle | null = null;
  let previewAbort: AbortController | null = null;
  let listAbort: AbortController | null = null;

  const button = h('button', {
    type: 'button', class: 'tbtn history-toggle', title: 'Version history', 'aria-label': 'Version history',
    'aria-expanded': 'false', 'data-tool': 'history', 'data-testid': 'history-toggle',
  }, 'History');

  // ---- side panel ----
  const error = h('div', { class: 'history-error', role: 'alert', hidden: true, 'data-testid': 'history-error' });
  const notice = h('div', { class: 'history-notice', role: 'status', hidden: true, 'data-testid': 'history-notice' });
  const labelInput = h('input', {
    class: 'input', type: 'text', maxlength: 200, placeholder: 'Label (optional)', 'aria-label': 'Version label',
    'data-testid': 'history-label',
  });
  const saveBtn = h('button', { class: 'btn primary small', type: 'submit', 'data-testid': 'history-save' }, 'Save version');
  const saveForm = h('form', { class: 'history-save row' }, labelInput, saveBtn);
  const list = h('ul', { class: 'history-list', 'aria-label': 'Versions', 'data-testid': 'history-list' });
  const refreshBtn = h('button', { class: 'icon-btn', type: 'button', title: 'Refresh', 'aria-label': 'Refresh the version list', 'data-testid': 'history-refresh' }, '⟳');
  const closeBtn = h('button', { class: 'icon-btn', type: 'button', title: 'Close', 'aria-label': 'Close version history' }, '×');
  const panel = h('aside', { class: 'history-panel', hidden: true, 'aria-label': 'Version history', 'data-testid': 'history-panel' },
    h('div', { class: 'history-head' }, h('h2', {}, 'History'), h('span', { class: 'grow' }), refreshBtn, closeBtn),
    saveForm, error, notice, list);

  // ---- preview ----
  const previewTitle = h('div', { class: 'preview-title', 'data-testid': 'preview-title' });
  const previewError = h('div', { class: 'history-error', role: 'alert', hidden: true, 'data-testid': 'preview-error' });
  const restoreBtn = h('button', { class: 'btn primary small', type: 'button', 'data-testid': 'history-restore' }, 'Restore this version');
  const backBtn = h('button', { class: 'btn small', type: 'button', 'data-testid': 'history-back' }, 'Back to the live document');
  const confirmYes = h('button', { class: 'btn danger small', type: 'button', 'data-testid': 'history-restore-confirm' }, 'Restore');
  const confirmNo = h('button', { class: 'btn ghost small', type: 'button', 'data-testid': 'history-restore-cancel' }, 'Cancel');
  const confirmRow = h('div', { class: 'preview-confirm', hidden: true, role: 'alertdialog', 'aria-label': 'Confirm restore', 'data-testid': 'history-confirm' },
    h('span', {}, 'Replace the document with this version for everyone editing it? The current state stays in the history.'),
    confirmYes, confirmNo);
  const previewMount = h('div', { class: 'page preview-page', 'data-testid': 'history-preview' });
  const preview = h('div', { class: 'history-preview', hidden: true },
    h('div', { class: 'preview-bar' }, previewTitle, h('span', { class: 'grow' }), restoreBtn, backBtn),
    confirmRow, previewError, previewMount);

  const show = (el: HTMLElement, text: string | null) => {
    el.hidden = !text;
    el.textContent = text ?? '';
  };

  const applyReadOnly = () => {
    saveForm.hidden = readOnly;
    restoreBtn.hidden = readOnly;
    if (readOnly) confirmRow.hidden = true;
  };

  const describe = (v: Version) => `${formatAgo(Date.parse(v.created_at))} · ${formatBytes(v.size_bytes)}`;

  const renderList = (emptyText = 'No versions yet.') => {
    clear(list);
    if (versions.length === 0) {
      if (emptyText) list.append(h('li', { class: 'empty' }, emptyText));
      return;
    }
    for (const v of versions) {
      const item = h('button', {
        type: 'button', class: 'history-item', 'data-testid': 'history-item', 'data-id': v.id, 'data-kind': v.kind,
        'aria-current': selected?.id === v.id ? 'true' : null, title: new Date(v.created_at).toLocaleString(),
      },
      h('span', { class: 'history-item-title' }, versionTitle(v)),
      h('span', { class: 'history-item-meta' }, `#${v.id} · ${describe(v)}`));
      item.addEventListener('click', () => void select(v));
      list.append(h('li', {}, item));
    }
  };

  async function refresh(): Promise<void> {
    listAbort?.abort();
    const ctl = new AbortController();
    listAbort = ctl;
    show(error, null);
    list.setAttribute('aria-busy', 'true');
    try {
      versions = await opts.api.listVersions(opts.docName, ctl.signal);
      renderList();
    } catch (e) {
      if (ctl.signal.aborted) return;
      versions = [];
      if (e instanceof ApiError && e.is('document-not-found')) {
        renderList('Nothing saved yet: this document has no history on the server.');
      } else {
        renderList('');
        show(error, message(e));
      }
    } finally {
      if (listAbort === ctl) list.removeAttribute('aria-busy');
    }
  }

  function closePreview(): void {
    previewAbort?.abort();
    previewAbort = null;
    previewHandle?.destroy();
    previewHandle = null;
    clear(previewMount);
    selected = null;
    preview.hidden = true;
    previewMount.hidden = false;
    applyReadOnly();
    confirmRow.hidden = true;
    show(previewError, null);
    opts.onPreview(false);
    renderList();
  }

  async function select(v: Version): Promise<void> {
    closePreview();
    selected = v;
    renderList();
    preview.hidden = false;
    opts.onPreview(true);
    previewTitle.textContent = `${versionTitle(v)} — #${v.id}, ${describe(v)}`;
    previewMount.dataset.state = 'loading';
    previewMount.textContent = 'Loading…';
    const ctl = new AbortController();
    previewAbort = ctl;
    try {
      const update = await opts.api.versionUpdate(opts.docName, v.id, ctl.signal);
      if (ctl.signal.aborted) return;
      const doc = new Y.Doc();
      Y.applyUpdate(doc, update);
      clear(previewMount);
      previewHandle = opts.renderPreview(previewMount, doc);
      previewMount.dataset.state = 'ready';
    } catch (e) {
      if (ctl.signal.aborted) return;
      clear(previewMount);
      previewMount.dataset.state = 'error';
      previewMount.hidden = true;
      restoreBtn.hidden = true; // nothing to look at: do not offer to restore it blind
      show(previewError, message(e));
    }
  }

  saveForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (readOnly) return;
    saveBtn.disabled = true;
    show(error, null);
    show(notice, null);
    try {
      const v = await opts.api.createVersion(opts.docName, labelInput.value);
      labelInput.value = '';
      show(notice, `Saved “${versionTitle(v)}” (#${v.id}).`);
      await refresh();
    } catch (e) {
      show(error, message(e));
    } finally {
      saveBtn.disabled = false;
    }
  });

  restoreBtn.addEventListener('click', () => {
    confirmRow.hidden = false;
    confirmYes.focus();
  });
  confirmNo.addEventListener('click', () => (confirmRow.hidden = true));
  confirmYes.addEventListener('click', async () => {
    if (!selected || readOnly) return;
    const v = selected;
    confirmYes.disabled = true;
    restoreBtn.disabled = true;
    show(previewError, null);
    try {
      const r = await opts.api.restoreVersion(opts.docName, v.id);
      closePreview();
      show(notice, r.changed === false
        ? `The document already matches “${versionTitle(v)}” (#${r.restored}).`
        : `Restored “${versionTitle(v)}” (#${r.restored}). Everyone editing now sees it.`);
      await refresh();
    } catch (e) {
      show(previewError, message(e));
    } finally {
      confirmYes.disabled = false;
      restoreBtn.disabled = false;
    }
  });
  backBtn.addEventListener('click', closePreview);
  refreshBtn.addEventListener('click', () => void refresh());

  const open = async () => {
    panel.hidden = false;
    button.classList.add('active');
    button.setAttribute('aria-expanded', 'true');
    show(notice, null);
    await refresh();
  };
  const close = () => {
    closePreview();
    listAbort?.abort();
    panel.hidden = true;
    button.classList.remove('active');
    button.setAttribute('aria-expanded', 'false');
  };
  closeBtn.addEventListener('click', close);
  button.addEventListener('mousedown', (ev) => ev.preventDefault()); // keep the editor selection
  button.addEventListener('click', () => (panel.hidden ? void open() : close()));
  applyReadOnly();

  return {
    button,
    panel,
    preview,
    open,
    close,
    refresh,
    setReadOnly(ro) {
      readOnly = ro;
      applyReadOnly();
    },
  };
}
