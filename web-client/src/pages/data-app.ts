import { openSession } from '../lib/session';
import { touchRecent } from '../lib/recent';
import { defaultStorage } from '../lib/storage';
import { isReadOnly } from '../lib/urls';
import {
  addTodo, clearDone, DEFAULT_TITLE, deleteTodo, MAX_TITLE, MAX_TODO_TEXT, readBoard, remaining, renameTodo,
  setTitle, settingsOf, todosOf, toggleTodo, type Todo,
} from '../lib/todos';
import { banner, installMenuDismiss, topBar } from '../ui/chrome';
import { h } from '../ui/dom';

/** A shared to-do list on plain Y.Array / Y.Map (no editor library); rendered from Yjs observers. */
export function renderData(root: HTMLElement, docName: string): void {
  document.title = `${docName} — Weft to-do`;
  const readOnly = isReadOnly(location.search);
  const session = openSession(docName, { readOnly });
  touchRecent(defaultStorage(), docName, 'data');
  const doc = session.ydoc;

  const title = h('input', {
    class: 'todo-title', type: 'text', maxlength: MAX_TITLE, placeholder: DEFAULT_TITLE, readonly: readOnly,
    'aria-label': 'List title', 'data-testid': 'todo-title',
  });
  title.addEventListener('change', () => setTitle(doc, title.value));
  title.addEventListener('keydown', (e) => e.key === 'Enter' && title.blur());

  const input = h('input', { class: 'input', type: 'text', maxlength: MAX_TODO_TEXT, placeholder: 'Add a to-do…', 'aria-label': 'New to-do', 'data-testid': 'todo-new' });
  const form = h('form', { class: 'row todo-add', hidden: readOnly },
    input, h('button', { class: 'btn primary', type: 'submit', 'data-testid': 'todo-add' }, 'Add'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (addTodo(doc, input.value)) input.value = '';
    input.focus();
  });

  const list = h('ul', { class: 'todos', 'data-testid': 'todo-list' });
  const count = h('span', { class: 'hint', 'data-testid': 'todo-count' });
  const clearBtn = h('button', { class: 'btn ghost small', type: 'button', hidden: readOnly, 'data-testid': 'todo-clear-done' }, 'Clear done');
  clearBtn.addEventListener('click', () => clearDone(doc));

  /** Keyed rows: an item's row (and a focused text field in it) survives re-renders. */
  const rows = new Map<string, { li: HTMLLIElement; check: HTMLInputElement; text: HTMLInputElement }>();
  const rowFor = (t: Todo) => {
    let row = rows.get(t.id);
    if (row) return row;
    const check = h('input', { type: 'checkbox', disabled: readOnly, 'aria-label': 'Done', 'data-testid': 'todo-done' });
    check.addEventListener('change', () => toggleTodo(doc, t.id, check.checked));
    const text = h('input', { class: 'todo-text', type: 'text', maxlength: MAX_TODO_TEXT, readonly: readOnly, 'aria-label': 'To-do', 'data-testid': 'todo-text' });
    text.addEventListener('change', () => renameTodo(doc, t.id, text.value));
    text.addEventListener('keydown', (e) => e.key === 'Enter' && text.blur());
    const del = h('button', { class: 'icon-btn', type: 'button', title: 'Delete', 'aria-label': 'Delete', hidden: readOnly, 'data-testid': 'todo-delete' }, '×');
    del.addEventListener('click', () => deleteTodo(doc, t.id));
    const li = h('li', { class: 'todo', 'data-testid': 'todo-item' }, check, text, del);
    li.dataset.id = t.id;
    row = { li, check, text };
    rows.set(t.id, row);
    return row;
  };

  const render = () => {
    const board = readBoard(doc);
    if (document.activeElement !== title) title.value = board.title;
    document.title = `${board.title || docName} — Weft to-do`;
    const seen = new Set<string>();
    let i = 0;
    for (const t of board.todos) {
      if (seen.has(t.id)) continue; // two clients picked the same id: show the first
      seen.add(t.id);
      const row = rowFor(t);
      row.li.classList.toggle('done', t.done);
      row.li.dataset.done = String(t.done);
      row.check.checked = t.done;
      if (document.activeElement !== row.text) row.text.value = t.text;
      if (list.children[i] !== row.li) list.insertBefore(row.li, list.children[i] ?? null);
      i++;
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.li.remove();
        rows.delete(id);
      }
    }
    list.dataset.empty = String(board.todos.length === 0);
    const left = remaining(board);
    count.textContent = board.todos.length === 0 ? 'Nothing to do yet.' : `${left} of ${board.todos.length} left`;
  };
  todosOf(doc).observeDeep(render);
  settingsOf(doc).observe(render);

  const panel = h('section', { class: 'card todo-card' },
    title, form, list, h('div', { class: 'todo-footer' }, count, clearBtn));
  root.append(topBar(session, 'data'), banner(session), h('main', { class: 'home' }, panel));
  installMenuDismiss();
  render();
  if (!readOnly) input.focus();
  performance.mark('weft:editor-ready');
  Object.assign(window.weft as Record<string, unknown>, { board: () => readBoard(doc) });
}
