import { Editor } from '@tiptap/core';
import StarterKit from '@tiptap/starter-kit';
import Collaboration from '@tiptap/extension-collaboration';
import CollaborationCaret from '@tiptap/extension-collaboration-caret';
import { Placeholder } from '@tiptap/extensions';
import type * as Y from 'yjs';
import { openSession, awarenessUser } from '../lib/session';
import { touchRecent } from '../lib/recent';
import { defaultStorage } from '../lib/storage';
import { isReadOnly } from '../lib/urls';
import { apiBaseUrl, createApi } from '../lib/api';
import { banner, installMenuDismiss, topBar } from '../ui/chrome';
import { h } from '../ui/dom';
import { buildToolbar } from '../ui/toolbar';
import { historyPanel } from '../ui/history';

/** The Y.XmlFragment the rich text lives in (Tiptap's default), readable by the server. */
export const FRAGMENT_NAME = 'default';

/** The document schema: the same for the live editor and a version's preview. */
const starterKit = (readOnly: boolean) =>
  StarterKit.configure({
    undoRedo: false, // Collaboration brings Yjs' UndoManager: undo only touches your own changes
    link: { openOnClick: readOnly, autolink: true, defaultProtocol: 'https' },
  });

/** A non-editable Tiptap view over a Y.Doc built from a version's update (history preview). */
function renderVersionPreview(element: HTMLElement, doc: Y.Doc) {
  const editor = new Editor({
    element,
    editable: false,
    extensions: [starterKit(true), Collaboration.configure({ document: doc, field: FRAGMENT_NAME })],
    editorProps: { attributes: { class: 'prose', 'aria-label': 'Version preview (read-only)' } },
  });
  (window.weft as Record<string, unknown>).previewEditor = editor;
  return {
    destroy() {
      editor.destroy();
      doc.destroy();
      delete (window.weft as Record<string, unknown>).previewEditor;
    },
  };
}

export function renderEditor(root: HTMLElement, docName: string): void {
  document.title = `${docName} — Weft`;
  const readOnly = isReadOnly(location.search);
  const session = openSession(docName, { readOnly });
  touchRecent(defaultStorage(), docName, 'doc');

  const mount = h('div', { class: 'page', 'data-testid': 'editor' });
  const editor = new Editor({
    element: mount,
    editable: !readOnly,
    extensions: [
      starterKit(readOnly),
      Placeholder.configure({ placeholder: readOnly ? '' : 'Start typing…' }),
      Collaboration.configure({ document: session.ydoc, field: FRAGMENT_NAME }),
      CollaborationCaret.configure({
        provider: session.provider,
        user: awarenessUser(session.user),
        render: (user: Record<string, any>) => {
          const caret = h('span', { class: 'collaboration-carets__caret', style: `border-color:${user.color}` });
          const label = h('div', { class: 'collaboration-carets__label', style: `background-color:${user.color}` });
          label.textContent = user.name ?? '';
          caret.append(label);
          return caret;
        },
        selectionRender: (user: Record<string, any>) => ({
          nodeName: 'span',
          class: 'collaboration-carets__selection',
          style: `background-color:${user.color}33`,
          'data-user': user.name ?? '',
        }),
      }),
    ],
    editorProps: {
      attributes: { class: 'prose', spellcheck: 'true', 'aria-label': `Document ${docName}` },
    },
  });

  // Version history (server HTTP API next to the WebSocket server; the page's token authorises it).
  const history = historyPanel({
    docName,
    api: createApi({
      base: apiBaseUrl(location, import.meta.env.VITE_WEFT_URL),
      token: new URLSearchParams(location.search).get('token'),
    }),
    readOnly,
    renderPreview: renderVersionPreview,
    onPreview: (previewing) => {
      mount.hidden = previewing;
      toolbar.classList.toggle('previewing', previewing);
    },
  });

  const toolbar = buildToolbar(editor);
  toolbar.append(h('span', { class: 'tspacer' }), history.button);
  root.append(
    topBar(session, 'doc'),
    toolbar,
    banner(session),
    h('div', { class: 'workspace' }, h('main', { class: 'canvas' }, mount, history.preview), history.panel));
  installMenuDismiss();
  if (!readOnly) editor.commands.focus('end');
  performance.mark('weft:editor-ready');
  Object.assign(window.weft as Record<string, unknown>, {
    editor,
    history,
    // The read-only switch (driven by ?readonly=1 or a read-only token).
    setReadOnly: (ro: boolean) => {
      editor.setEditable(!ro);
      history.setReadOnly(ro);
    },
  });
}
