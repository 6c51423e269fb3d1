// Monaco's ESM API without the language services: only the editor worker, a few
// editing features and the Monarch (main-thread) highlighters for JS/TS.
import * as monaco from 'monaco-editor/editor/editor.api.js';
import 'monaco-editor/features/codicon/register.js';
import 'monaco-editor/features/find/register.js';
import 'monaco-editor/features/bracketMatching/register.js';
import 'monaco-editor/features/clipboard/register.js';
import 'monaco-editor/features/comment/register.js';
import 'monaco-editor/features/cursorUndo/register.js';
import 'monaco-editor/features/folding/register.js';
import 'monaco-editor/features/indentation/register.js';
import 'monaco-editor/features/linesOperations/register.js';
import 'monaco-editor/features/multicursor/register.js';
import 'monaco-editor/features/wordOperations/register.js';
import 'monaco-editor/languages/definitions/javascript/register.js';
import 'monaco-editor/languages/definitions/typescript/register.js';
import EditorWorker from 'monaco-editor/editor/editor.worker.js?worker';
import { MonacoBinding } from 'y-monaco';
import { openSession } from '../lib/session';
import { touchRecent } from '../lib/recent';
import { defaultStorage } from '../lib/storage';
import { isReadOnly } from '../lib/urls';
import { languageFor, monacoCursorCss } from '../lib/monaco-support';
import { banner, installMenuDismiss, topBar } from '../ui/chrome';
import { h } from '../ui/dom';

/** The Y.Text the Monaco editor binds to. */
export const TEXT_NAME = 'monaco';

self.MonacoEnvironment = { getWorker: () => new EditorWorker() };

export function renderMonaco(root: HTMLElement, docName: string): void {
  document.title = `${docName} — Weft Monaco`;
  const readOnly = isReadOnly(location.search);
  const session = openSession(docName, { readOnly });
  touchRecent(defaultStorage(), docName, 'monaco');
  const ytext = session.ydoc.getText(TEXT_NAME);
  const awareness = session.provider.awareness;

  const mount = h('div', { class: 'monaco-host', 'data-testid': 'monaco-editor' });
  root.append(topBar(session, 'monaco'), banner(session), h('main', { class: 'canvas code' }, mount));
  installMenuDismiss();

  const model = monaco.editor.createModel('', languageFor(docName));
  model.setEOL(monaco.editor.EndOfLineSequence.LF); // one line ending for everyone
  const editor = monaco.editor.create(mount, {
    model,
    readOnly,
    automaticLayout: true,
    minimap: { enabled: false },
    fontSize: 14,
    scrollBeyondLastLine: false,
    renderWhitespace: 'selection',
    ariaLabel: `Document ${docName}`,
  });
  const binding = new MonacoBinding(ytext, model, new Set([editor]), awareness);

  // Remote carets: y-monaco adds per-client classes; the colours and names come from awareness.
  const style = h('style', { 'data-testid': 'monaco-cursor-css' });
  document.head.append(style);
  const paintCursors = () => {
    style.textContent = monacoCursorCss(awareness.getStates() as Map<number, Record<string, any>>, session.ydoc.clientID);
  };
  awareness.on('change', paintCursors);
  paintCursors();

  if (!readOnly) editor.focus();
  performance.mark('weft:editor-ready');
  Object.assign(window.weft as Record<string, unknown>, { editor, monaco, binding, textName: TEXT_NAME });
}
