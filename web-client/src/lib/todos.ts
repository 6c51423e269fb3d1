/**
 * The shared to-do list of the `/data/{name}` page, on plain Yjs types:
 *
 * - `Y.Array` named `todos`: one `Y.Map` per item with `id` (string), `text` (string), `done` (boolean)
 * - `Y.Map` named `settings`: `title` (string)
 *
 * Items are addressed by `id`, not by position, so an operation still hits the
 * right item after concurrent inserts/deletes moved it. Pure logic: no DOM.
 */
import * as Y from 'yjs';

export const TODOS_NAME = 'todos';
export const SETTINGS_NAME = 'settings';
export const MAX_TODO_TEXT = 500;
export const MAX_TITLE = 120;
export const DEFAULT_TITLE = 'To-do list';

export interface Todo {
  id: string;
  text: string;
  done: boolean;
}

export interface Board {
  title: string;
  todos: Todo[];
}

export type TodoItem = Y.Map<unknown>;

export function todosOf(doc: Y.Doc): Y.Array<TodoItem> {
  return doc.getArray<TodoItem>(TODOS_NAME);
}

export function settingsOf(doc: Y.Doc): Y.Map<unknown> {
  return doc.getMap<unknown>(SETTINGS_NAME);
}

/** Collapse whitespace, trim, cut to `max` characters. */
export function cleanText(s: unknown, max = MAX_TODO_TEXT): string {
  if (typeof s !== 'string') return '';
  return [...s.replace(/\s+/g, ' ').trim()].slice(0, max).join('');
}

export function newTodoId(rand: () => number = Math.random): string {
  let s = '';
  for (let i = 0; i < 12; i++) s += Math.floor(rand() * 36).toString(36);
  return s;
}

/** An item as plain data; items with a missing field get a fallback (they come from other clients). */
export function readTodo(item: TodoItem, index = 0): Todo {
  const id = item.get('id');
  const text = item.get('text');
  return {
    id: typeof id === 'string' && id ? id : `#${index}`,
    text: typeof text === 'string' ? text : '',
    done: item.get('done') === true,
  };
}

export function readBoard(doc: Y.Doc): Board {
  const title = settingsOf(doc).get('title');
  return {
    title: typeof title === 'string' ? title : '',
    todos: todosOf(doc).toArray().map((item, i) => readTodo(item, i)),
  };
}

function indexOf(doc: Y.Doc, id: string): number {
  return todosOf(doc).toArray().findIndex((item, i) => readTodo(item, i).id === id);
}

/** Append an item; returns its id, or null for empty text. */
export function addTodo(doc: Y.Doc, text: string, id = newTodoId()): string | null {
  const clean = cleanText(text);
  if (!clean) return null;
  const item = new Y.Map<unknown>();
  item.set('id', id);
  item.set('text', clean);
  item.set('done', false);
  todosOf(doc).push([item]);
  return id;
}

/** Flip (or set) `done`; false when there is no such item. */
export function toggleTodo(doc: Y.Doc, id: string, done?: boolean): boolean {
  const i = indexOf(doc, id);
  if (i < 0) return false;
  const item = todosOf(doc).get(i);
  item.set('done', done ?? item.get('done') !== true);
  return true;
}

/** Change an item's text; empty text deletes the item. */
export function renameTodo(doc: Y.Doc, id: string, text: string): boolean {
  const clean = cleanText(text);
  if (!clean) return deleteTodo(doc, id);
  const i = indexOf(doc, id);
  if (i < 0) return false;
  const item = todosOf(doc).get(i);
  if (item.get('text') !== clean) item.set('text', clean);
  return true;
}

export function deleteTodo(doc: Y.Doc, id: string): boolean {
  const i = indexOf(doc, id);
  if (i < 0) return false;
  todosOf(doc).delete(i, 1);
  return true;
}

/** Delete every done item (one transaction); returns how many. */
export function clearDone(doc: Y.Doc): number {
  const arr = todosOf(doc);
  let n = 0;
  doc.transact(() => {
    for (let i = arr.length - 1; i >= 0; i--) {
      if (arr.get(i).get('done') === true) {
        arr.delete(i, 1);
        n++;
      }
    }
  });
  return n;
}

export function setTitle(doc: Y.Doc, title: string): void {
  const clean = cleanText(title, MAX_TITLE);
  const settings = settingsOf(doc);
  if (settings.get('title') !== clean) settings.set('title', clean);
}

export function remaining(board: Board): number {
  return board.todos.filter((t) => !t.done).length;
}
