import Quill from 'quill';
import QuillCursors from 'quill-cursors';
import { QuillBinding } from 'y-quill';
import 'quill/dist/quill.snow.css';
import { openSession } from '../lib/session';
import { touchRecent } from '../lib/recent';
import { defaultStorage } from '../lib/storage';
import { isReadOnly } from '../lib/urls';
import { banner, installMenuDismiss, topBar } from '../ui/chrome';
import { h } from '../ui/dom';

/** The Y.Text (with formatting attributes) the Quill editor binds to. */
export const TEXT_NAME = 'quill';

Quill.register('modules/cursors', QuillCursors);

const TOOLBAR = [
  [{ header: [1, 2, 3, false] }],
  ['bold', 'italic', 'underline', 'strike', 'code'],
  [{ list: 'ordered' }, { list: 'bullet' }, 'blockquote', 'code-block', 'link'],
  ['clean'],
];

export function renderQuill(root: HTMLElement, docName: string): void {
  document.title = `${docName} — Weft Quill`;
  const readOnly = isReadOnly(location.search);
  const session = openSession(docName, { readOnly });
  touchRecent(defaultStorage(), docName, 'quill');
  const ytext = session.ydoc.getText(TEXT_NAME);

  const mount = h('div', { class: 'quill-mount', 'data-testid': 'quill-editor' });
  const page = h('div', { class: 'page quill-page' }, mount);
  root.append(topBar(session, 'quill'), banner(session), h('main', { class: 'canvas' }, page));
  installMenuDismiss();

  const quill = new Quill(mount, {
    theme: 'snow',
    readOnly,
    placeholder: readOnly ? '' : 'Start typing…',
    modules: {
      toolbar: readOnly ? false : TOOLBAR,
      cursors: { transformOnTextChange: true, hideDelayMs: 5000, hideSpeedMs: 300 },
      // Undo only your own changes: remote edits arrive with the binding as the source, not 'user'.
      history: { userOnly: true },
    },
  });
  const binding = new QuillBinding(ytext, quill, session.provider.awareness);

  if (!readOnly) quill.focus();
  performance.mark('weft:editor-ready');
  Object.assign(window.weft as Record<string, unknown>, { editor: quill, binding, textName: TEXT_NAME });
}
