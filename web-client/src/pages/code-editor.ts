import * as Y from 'yjs';
import { EditorView, minimalSetup } from 'codemirror';
import { EditorState } from '@codemirror/state';
import { keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter } from '@codemirror/view';
import { indentWithTab } from '@codemirror/commands';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import { openSession } from '../lib/session';
import { touchRecent } from '../lib/recent';
import { defaultStorage } from '../lib/storage';
import { isReadOnly } from '../lib/urls';
import { banner, installMenuDismiss, topBar } from '../ui/chrome';
import { h } from '../ui/dom';

/** The Y.Text the code editor binds to. */
export const TEXT_NAME = 'codemirror';

export function renderCode(root: HTMLElement, docName: string): void {
  document.title = `${docName} — Weft code`;
  const readOnly = isReadOnly(location.search);
  const session = openSession(docName, { readOnly });
  touchRecent(defaultStorage(), docName, 'code');
  const ytext = session.ydoc.getText(TEXT_NAME);
  const undoManager = new Y.UndoManager(ytext);

  const mount = h('div', { class: 'code-host', 'data-testid': 'code-editor' });
  const view = new EditorView({
    parent: mount,
    state: EditorState.create({
      doc: ytext.toString(),
      extensions: [
        keymap.of([...yUndoManagerKeymap]),
        minimalSetup,
        lineNumbers(),
        highlightActiveLine(),
        highlightActiveLineGutter(),
        keymap.of([indentWithTab]),
        EditorView.lineWrapping,
        EditorState.readOnly.of(readOnly),
        EditorView.editable.of(!readOnly),
        yCollab(ytext, session.provider.awareness, { undoManager }),
        EditorView.theme({
          '&': { height: '100%', fontSize: '14px' },
          '.cm-scroller': { fontFamily: 'var(--mono)' },
        }),
      ],
    }),
  });

  root.append(topBar(session, 'code'), banner(session), h('main', { class: 'canvas code' }, mount));
  installMenuDismiss();
  if (!readOnly) view.focus();
  performance.mark('weft:editor-ready');
  (window.weft as Record<string, unknown>).view = view;
}
