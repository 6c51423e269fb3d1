import { describe, expect, it } from 'vitest';
import {
  carriedQuery, codePath, docPath, isPageKind, isReadOnly, PAGES, pagePath, parseRoute, providerParams, resolveServerUrl,
  shareLink, tokenScope, websocketUrl,
} from '../src/lib/urls';

const loc = (o: Partial<{ protocol: string; host: string; search: string }> = {}) => ({
  protocol: 'http:', host: 'localhost:8080', search: '', ...o,
});

describe('routing', () => {
  it('parses the pages', () => {
    expect(parseRoute('/')).toEqual({ page: 'home' });
    expect(parseRoute('/index.html')).toEqual({ page: 'home' });
    expect(parseRoute('/d/hello')).toEqual({ page: 'doc', name: 'hello' });
    expect(parseRoute('/d/team/notes.md')).toEqual({ page: 'doc', name: 'team/notes.md' });
    expect(parseRoute('/code/main.rs')).toEqual({ page: 'code', name: 'main.rs' });
    expect(parseRoute('/d/a%2Fb')).toEqual({ page: 'doc', name: 'a/b' });
  });
  it('reports invalid names', () => {
    const r = parseRoute('/d/');
    expect(r.page).toBe('invalid');
    expect(parseRoute('/d/a%20b')).toMatchObject({ page: 'invalid', kind: 'doc', raw: 'a b' });
    expect(parseRoute('/code/%E0%A4%A')).toMatchObject({ page: 'invalid', kind: 'code' });
  });
  it('parses the editor-integration pages', () => {
    expect(parseRoute('/monaco/src/main.js')).toEqual({ page: 'monaco', name: 'src/main.js' });
    expect(parseRoute('/quill/notes')).toEqual({ page: 'quill', name: 'notes' });
    expect(parseRoute('/data/todo')).toEqual({ page: 'data', name: 'todo' });
    expect(parseRoute('/data/')).toMatchObject({ page: 'invalid', kind: 'data' });
    expect(parseRoute('/quill')).toEqual({ page: 'home' });
    expect(parseRoute('/dataset/x')).toEqual({ page: 'home' });
    for (const p of PAGES) {
      expect(pagePath(p.kind, 'a/b')).toBe(`${p.prefix}a/b`);
      expect(parseRoute(pagePath(p.kind, 'a/b'))).toEqual({ page: p.kind, name: 'a/b' });
      expect(isPageKind(p.kind)).toBe(true);
    }
    expect(isPageKind('home')).toBe(false);
    expect(shareLink('https://w.example', 'x', '?token=t', 'quill')).toBe('https://w.example/quill/x');
  });
  it('builds paths', () => {
    expect(docPath('team/x')).toBe('/d/team/x');
    expect(codePath('x')).toBe('/code/x');
    for (const n of ['a', 'a/b', 'x-_.~']) expect(parseRoute(docPath(n))).toEqual({ page: 'doc', name: n });
  });
});

describe('server URL', () => {
  it('defaults to ws(s)://host/ws', () => {
    expect(resolveServerUrl(loc())).toBe('ws://localhost:8080/ws');
    expect(resolveServerUrl(loc({ protocol: 'https:', host: 'docs.example' }))).toBe('wss://docs.example/ws');
  });
  it('honours VITE_WEFT_URL, then ?server=', () => {
    expect(resolveServerUrl(loc(), 'ws://build:1/ws')).toBe('ws://build:1/ws');
    expect(resolveServerUrl(loc({ search: '?server=ws://127.0.0.1:9/ws/' }), 'ws://build:1/ws')).toBe('ws://127.0.0.1:9/ws');
    expect(resolveServerUrl(loc({ search: '?server=' }), '')).toBe('ws://localhost:8080/ws');
  });
  it('matches what WebsocketProvider opens', () => {
    expect(websocketUrl('ws://h/ws', 'team/doc')).toBe('ws://h/ws/team/doc');
    expect(websocketUrl('ws://h/ws', 'd', { token: 'a b' })).toBe('ws://h/ws/d?token=a+b');
  });
  it('passes only the token through', () => {
    expect(providerParams('?token=abc&readonly=1&server=x')).toEqual({ token: 'abc' });
    expect(providerParams('')).toEqual({});
  });
});

describe('flags and links', () => {
  it('read-only flag', () => {
    expect(isReadOnly('?readonly=1')).toBe(true);
    expect(isReadOnly('?readonly')).toBe(true);
    expect(isReadOnly('?readonly=0')).toBe(false);
    expect(isReadOnly('?readonly=false')).toBe(false);
    const claims = (c: object) => btoa(JSON.stringify(c)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const token = (access: string) => `${claims({ alg: 'HS256' })}.${claims({ doc: 'a', access })}.sig`;
    expect(isReadOnly(`?token=${token('read')}`)).toBe(true);
    expect(isReadOnly(`?token=${token('write')}`)).toBe(false);
    expect(isReadOnly('?token=not-a-jwt')).toBe(false);
    expect(isReadOnly('')).toBe(false);
  });
  it('a token scope is the prefix a listing must stay inside', () => {
    const claims = (c: object) => btoa(JSON.stringify(c)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
    const token = (doc: string) => `${claims({ alg: 'HS256' })}.${claims({ doc, access: 'read' })}.sig`;
    expect(tokenScope(token('notes/*'))).toBe('notes/');
    expect(tokenScope(token('*'))).toBe('');
    expect(tokenScope(token('notes/plan'))).toBeUndefined();
    expect(tokenScope('not-a-jwt')).toBeUndefined();
  });
  it('carries the server override but not token or readonly', () => {
    expect(carriedQuery('?server=ws://x/ws&token=t&readonly=1')).toBe('?server=ws%3A%2F%2Fx%2Fws');
    expect(carriedQuery('?token=t')).toBe('');
  });
  it('share links', () => {
    expect(shareLink('https://weft.test', 'team/notes')).toBe('https://weft.test/d/team/notes');
    expect(shareLink('https://weft.test', 'x', '?token=secret')).toBe('https://weft.test/d/x');
    expect(shareLink('http://h', 'x', '', 'code')).toBe('http://h/code/x');
  });
});
