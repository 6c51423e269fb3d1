import { Editor } from '@tiptap/core';
import StarterKit from '@tiptap/starter-kit';
import Collaboration from '@tiptap/extension-collaboration';
import CollaborationCaret from '@tiptap/extension-collaboration-caret';
import { Placeholder } from '@tiptap/extensions';
import { openSession, awarenessUser } from '../lib/session';
import { touchRecent } from '../lib/recent';
import { defaultStorage } from '../lib/storage';
import { isReadOnly } from '../lib/urls';
import { banner, installMenuDismiss, topBar } from '../ui/chrome';
import { h } from '../ui/dom';
import { buildToolbar } from '../ui/toolbar';

/** The Y.XmlFragment the rich text lives in (Tiptap's default), readable by the server. */
export const FRAGMENT_NAME = 'default';

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
      StarterKit.configure({
        undoRedo: false, // Collaboration brings Yjs' UndoManager: undo only touches your own changes
        link: { openOnClick: readOnly, autolink: true, defaultProtocol: 'https' },
      }),
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

  const toolbar = buildToolbar(editor);
  root.append(
    topBar(session, 'doc'),
    toolbar,
    banner(session),
    h('main', { class: 'canvas' }, mount));
  installMenuDismiss();
  if (!readOnly) editor.commands.focus('end');
  performance.mark('weft:editor-ready');
  (window.weft as Record<string, unknown>).editor = editor;
  // The read-only switch (driven by ?readonly=1 or a read-only token).
  (window.weft as Record<string, unknown>).setReadOnly = (ro: boolean) => editor.setEditable(!ro);
}
