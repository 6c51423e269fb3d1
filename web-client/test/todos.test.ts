import { describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import {
  addTodo, cleanText, clearDone, deleteTodo, MAX_TITLE, MAX_TODO_TEXT, newTodoId, readBoard, remaining, renameTodo,
  setTitle, settingsOf, todosOf, toggleTodo,
} from '../src/lib/todos';

/** Two docs wired together the way the provider does it (every update goes to the other). */
function pair(): [Y.Doc, Y.Doc] {
  const a = new Y.Doc();
  const b = new Y.Doc();
  a.on('update', (u: Uint8Array, origin: unknown) => origin !== 'remote' && Y.applyUpdate(b, u, 'remote'));
  b.on('update', (u: Uint8Array, origin: unknown) => origin !== 'remote' && Y.applyUpdate(a, u, 'remote'));
  return [a, b];
}

/** Two docs that only exchange their state when told to (concurrent edits). */
function sync(a: Y.Doc, b: Y.Doc) {
  Y.applyUpdate(b, Y.encodeStateAsUpdate(a, Y.encodeStateVector(b)));
  Y.applyUpdate(a, Y.encodeStateAsUpdate(b, Y.encodeStateVector(a)));
}

describe('to-do model', () => {
  it('adds items to the Y.Array "todos" as Y.Maps with id, text, done', () => {
    const d = new Y.Doc();
    expect(readBoard(d)).toEqual({ title: '', todos: [] });
    const id = addTodo(d, '  buy   milk ', 'id1');
    expect(id).toBe('id1');
    expect(addTodo(d, '   ')).toBeNull();
    const item = todosOf(d).get(0);
    expect(item).toBeInstanceOf(Y.Map);
    expect(item.toJSON()).toEqual({ id: 'id1', text: 'buy milk', done: false });
    expect(d.getArray('todos').length).toBe(1);
  });

  it('toggles, renames and deletes by id', () => {
    const d = new Y.Doc();
    addTodo(d, 'a', 'A');
    addTodo(d, 'b', 'B');
    expect(toggleTodo(d, 'B')).toBe(true);
    expect(readBoard(d).todos[1].done).toBe(true);
    expect(toggleTodo(d, 'B')).toBe(true);
    expect(readBoard(d).todos[1].done).toBe(false);
    expect(toggleTodo(d, 'B', true)).toBe(true);
    expect(toggleTodo(d, 'B', true)).toBe(true);
    expect(readBoard(d).todos[1].done).toBe(true);
    expect(renameTodo(d, 'A', 'alpha')).toBe(true);
    expect(readBoard(d).todos.map((t) => t.text)).toEqual(['alpha', 'b']);
    expect(toggleTodo(d, 'nope')).toBe(false);
    expect(renameTodo(d, 'nope', 'x')).toBe(false);
    expect(deleteTodo(d, 'nope')).toBe(false);
    expect(deleteTodo(d, 'A')).toBe(true);
    expect(readBoard(d).todos).toEqual([{ id: 'B', text: 'b', done: true }]);
    // An empty rename deletes.
    expect(renameTodo(d, 'B', '  ')).toBe(true);
    expect(readBoard(d).todos).toEqual([]);
  });

  it('clears done items in one transaction and counts what is left', () => {
    const d = new Y.Doc();
    for (const [id, done] of [['1', true], ['2', false], ['3', true], ['4', false]] as const) {
      addTodo(d, `t${id}`, id);
      toggleTodo(d, id, done);
    }
    expect(remaining(readBoard(d))).toBe(2);
    let updates = 0;
    d.on('update', () => updates++);
    expect(clearDone(d)).toBe(2);
    expect(updates).toBe(1);
    expect(readBoard(d).todos.map((t) => t.id)).toEqual(['2', '4']);
  });

  it('keeps the title in the Y.Map "settings"', () => {
    const d = new Y.Doc();
    setTitle(d, '  Groceries  ');
    expect(settingsOf(d).get('title')).toBe('Groceries');
    expect(readBoard(d).title).toBe('Groceries');
    let updates = 0;
    d.on('update', () => updates++);
    setTitle(d, 'Groceries'); // unchanged: no update
    expect(updates).toBe(0);
    setTitle(d, 'x'.repeat(500));
    expect(readBoard(d).title).toHaveLength(MAX_TITLE);
  });

  it('converges under concurrent edits, addressing items by id', () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    addTodo(a, 'one', '1');
    addTodo(a, 'two', '2');
    sync(a, b);
    // Concurrently: A deletes "one" (shifting "two" to index 0), B toggles and renames "two", both add.
    deleteTodo(a, '1');
    addTodo(a, 'from a', 'a1');
    toggleTodo(b, '2', true);
    renameTodo(b, '2', 'TWO');
    addTodo(b, 'from b', 'b1');
    setTitle(a, 'A title');
    setTitle(b, 'B title');
    sync(a, b);
    const ra = readBoard(a);
    expect(ra).toEqual(readBoard(b));
    expect(ra.todos[0]).toEqual({ id: '2', text: 'TWO', done: true });
    expect(ra.todos.map((t) => t.id).slice(1).sort()).toEqual(['a1', 'b1']);
    expect(['A title', 'B title']).toContain(ra.title);
  });

  it('a delete racing a toggle of the same item leaves it deleted everywhere', () => {
    const a = new Y.Doc();
    const b = new Y.Doc();
    addTodo(a, 'x', 'X');
    sync(a, b);
    deleteTodo(a, 'X');
    toggleTodo(b, 'X');
    sync(a, b);
    expect(readBoard(a).todos).toEqual([]);
    expect(readBoard(b).todos).toEqual([]);
  });

  it('live-synced docs see every operation', () => {
    const [a, b] = pair();
    const id = addTodo(a, 'shared')!;
    toggleTodo(b, id);
    expect(readBoard(a).todos[0].done).toBe(true);
    renameTodo(a, id, 'renamed');
    expect(readBoard(b).todos[0].text).toBe('renamed');
    deleteTodo(b, id);
    expect(readBoard(a).todos).toEqual([]);
  });

  it('reads items written by other clients defensively', () => {
    const d = new Y.Doc();
    const m = new Y.Map<unknown>();
    m.set('text', 42);
    m.set('done', 'yes');
    todosOf(d).push([m]);
    expect(readBoard(d).todos).toEqual([{ id: '#0', text: '', done: false }]);
    settingsOf(d).set('title', 7);
    expect(readBoard(d).title).toBe('');
  });

  it('cleans text and makes ids', () => {
    expect(cleanText(' a\n\tb ')).toBe('a b');
    expect(cleanText(null)).toBe('');
    expect(cleanText('é'.repeat(MAX_TODO_TEXT + 5))).toHaveLength(MAX_TODO_TEXT);
    expect(newTodoId(() => 0.5)).toMatch(/^[0-9a-z]{12}$/);
    expect(newTodoId()).not.toBe(newTodoId());
  });
});
