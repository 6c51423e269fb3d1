import { describe, expect, it, vi } from 'vitest';
import * as Y from 'yjs';
import {
  ApiError, apiBaseUrl, createApi, formatBytes, httpBaseFromWs, listPath, UNEXPECTED_RESPONSE, versionsPath, versionTitle, type Version,
} from '../src/lib/api';

const V3: Version = { id: 3, label: 'before rewrite', kind: 'manual', created_at: '2026-11-27T05:00:00Z', size_bytes: 1234 };
const V2 = { id: 2, label: null, kind: 'auto', created_at: '2026-11-27T04:00:00Z', size_bytes: 99 };

interface Call {
  url: string;
  init: RequestInit;
}

/** A fetch stub answering from a list of canned responses, recording every call. */
function stub(...responses: (Response | Error)[]) {
  const calls: Call[] = [];
  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), init: init ?? {} });
    const r = responses.shift();
    if (!r) throw new Error('unexpected call');
    if (r instanceof Error) throw r;
    return r;
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls };
}

const json = (status: number, body: unknown, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': type } });
const problem = (status: number, code: string, detail: string) =>
  json(status, { type: `https://weft.dev/problems/${code}`, title: 'Not Found', status, code, detail }, 'application/problem+json');
const headers = (c: Call) => c.init.headers as Record<string, string>;

describe('API base URL', () => {
  const loc = (search = '') => ({ protocol: 'https:', host: 'app.example', origin: 'https://app.example', search });
  it('is the page origin by default', () => {
    expect(apiBaseUrl(loc())).toBe('https://app.example');
  });
  it('follows ?server= (ws->http, without the trailing /ws)', () => {
    expect(apiBaseUrl(loc('?server=ws://127.0.0.1:8080/ws'))).toBe('http://127.0.0.1:8080');
    expect(apiBaseUrl(loc('?server=' + encodeURIComponent('wss://weft.example/ws/')))).toBe('https://weft.example');
    expect(apiBaseUrl(loc('?server=wss://weft.example/sync/ws'))).toBe('https://weft.example/sync');
    expect(apiBaseUrl(loc('?server=ws://ref:1234'))).toBe('http://ref:1234');
  });
  it('follows a build-time server URL, but ?server= wins', () => {
    expect(apiBaseUrl(loc(), 'wss://build.example/ws')).toBe('https://build.example');
    expect(apiBaseUrl(loc('?server=ws://p:1/ws'), 'wss://build.example/ws')).toBe('http://p:1');
  });
  it('maps schemes', () => {
    expect(httpBaseFromWs('WSS://x/ws')).toBe('https://x');
    expect(httpBaseFromWs('http://already/ws')).toBe('http://already');
  });
});

describe('document API client', () => {
  it('encodes the document name as one path segment', () => {
    expect(versionsPath('team/notes v1')).toBe('/api/v1/documents/team%2Fnotes%20v1/versions');
  });

  it('lists documents by prefix and cursor, with the bearer token', async () => {
    expect(listPath({})).toBe('/api/v1/documents');
    expect(listPath({ prefix: 'team/', limit: 20, cursor: 'team/b' })).toBe('/api/v1/documents?prefix=team%2F&limit=20&cursor=team%2Fb');
    const doc = { name: 'team/a', created_at: '2026-12-06T04:00:00Z', updated_at: '2026-12-06T04:01:00Z', size_bytes: 27, log_entries: 1, connections: 0 };
    const s = stub(json(200, { documents: [doc, { bogus: 1 }], next_cursor: 'team/a' }), json(200, { documents: [], next_cursor: null }));
    const api = createApi({ base: 'http://h', token: 'tok', fetch: s.fetch });
    const page = await api.listDocuments({ prefix: 'team/', limit: 1 });
    expect(page).toEqual({ documents: [{ name: 'team/a', updated_at: doc.updated_at, size_bytes: 27, connections: 0 }], nextCursor: 'team/a' });
    expect(s.calls[0].url).toBe('http://h/api/v1/documents?prefix=team%2F&limit=1');
    expect(headers(s.calls[0]).Authorization).toBe('Bearer tok');
    expect((await api.listDocuments({ prefix: 'team/', cursor: 'team/a' })).nextCursor).toBeNull();
  });

  it('an HTML answer to the list (no API at that address) is an unexpected response', async () => {
    const s = stub(new Response('<!doctype html>', { status: 200, headers: { 'content-type': 'text/html' } }));
    const err = await createApi({ base: 'http://h', fetch: s.fetch }).listDocuments({}).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.is(UNEXPECTED_RESPONSE)).toBe(true);
  });

  it('lists versions with the bearer token, newest first as sent', async () => {
    const s = stub(json(200, { versions: [V3, V2, { bogus: true }] }));
    const api = createApi({ base: 'http://h:1/', token: 'tok.en', fetch: s.fetch });
    const list = await api.listVersions('team/notes');
    expect(list.map((v) => v.id)).toEqual([3, 2]);
    expect(list[1]).toEqual({ ...V2, label: null, kind: 'auto' });
    expect(s.calls[0].url).toBe('http://h:1/api/v1/documents/team%2Fnotes/versions');
    expect(s.calls[0].init.method).toBe('GET');
    expect(headers(s.calls[0]).Authorization).toBe('Bearer tok.en');
    expect(headers(s.calls[0]).Accept).toContain('application/json');
  });

  it('sends no Authorization header without a token', async () => {
    const s = stub(json(200, { versions: [] }));
    await createApi({ base: 'http://h', fetch: s.fetch }).listVersions('x');
    expect(headers(s.calls[0]).Authorization).toBeUndefined();
  });

  it('turns problem+json into an ApiError with the detail as message', async () => {
    const s = stub(problem(404, 'document-not-found', 'No document named "x".'));
    const err = await createApi({ base: 'http://h', fetch: s.fetch }).listVersions('x').catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.status).toBe(404);
    expect(err.code).toBe('document-not-found');
    expect(err.is('document-not-found')).toBe(true);
    expect(err.is('document_not_found')).toBe(true);
    expect(err.is('version-not-found')).toBe(false);
    expect(err.message).toBe('No document named "x".');
    expect(err.title).toBe('Not Found');
  });

  it('falls back to the title, then the status, for other error bodies', async () => {
    const s = stub(json(403, { title: 'Forbidden' }), new Response('<html>oops</html>', { status: 502 }));
    const api = createApi({ base: 'http://h', fetch: s.fetch });
    await expect(api.listVersions('x')).rejects.toThrow('Forbidden');
    const e = await api.listVersions('x').catch((x) => x);
    expect(e).toMatchObject({ status: 502, code: '' });
    expect(e.message).toMatch(/HTTP 502/);
  });

  it('reports a network failure clearly', async () => {
    const s = stub(new TypeError('Failed to fetch'));
    const e = await createApi({ base: 'http://h', fetch: s.fetch }).listVersions('x').catch((x) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e.message).toMatch(/Could not reach the server/);
  });

  it('rejects an unexpected success body', async () => {
    const s = stub(json(200, { nope: 1 }));
    await expect(createApi({ base: 'http://h', fetch: s.fetch }).listVersions('x')).rejects.toThrow(/unexpected answer/);
  });

  it('saves a version with a trimmed label, or none', async () => {
    const s = stub(json(201, V3), json(201, { ...V3, id: 4, label: null }));
    const api = createApi({ base: 'http://h', token: 't', fetch: s.fetch });
    expect(await api.createVersion('a/b', '  before rewrite ')).toEqual(V3);
    expect(s.calls[0].url).toBe('http://h/api/v1/documents/a%2Fb/versions');
    expect(s.calls[0].init.method).toBe('POST');
    expect(JSON.parse(String(s.calls[0].init.body))).toEqual({ label: 'before rewrite' });
    expect(headers(s.calls[0])['Content-Type']).toBe('application/json');
    expect(headers(s.calls[0]).Authorization).toBe('Bearer t');
    expect((await api.createVersion('a/b', '   ')).label).toBeNull();
    expect(JSON.parse(String(s.calls[1].init.body))).toEqual({});
  });

  it('fetches a version as a Yjs update that rebuilds the document', async () => {
    const src = new Y.Doc();
    src.getXmlFragment('default').insert(0, [new Y.XmlText('hello')]);
    const bytes = Y.encodeStateAsUpdate(src);
    const s = stub(new Response(bytes, { status: 200, headers: { 'content-type': 'application/octet-stream' } }));
    const update = await createApi({ base: 'http://h', fetch: s.fetch }).versionUpdate('a/b', 3);
    expect(s.calls[0].url).toBe('http://h/api/v1/documents/a%2Fb/versions/3/update');
    expect(headers(s.calls[0]).Accept).toContain('application/octet-stream');
    const d = new Y.Doc();
    Y.applyUpdate(d, update);
    expect(d.getXmlFragment('default').toString()).toBe('hello');
  });

  it('restores a version', async () => {
    const s = stub(json(200, { restored: 3, changed: true }), json(200, { restored: 3, version: { ...V3, id: 5, kind: 'restore', label: null } }));
    const api = createApi({ base: 'http://h', token: 't', fetch: s.fetch });
    const r = await api.restoreVersion('a/b', 3);
    expect(r).toEqual({ restored: 3, changed: true, version: null });
    // A server that also returns the version it took of the restored state.
    const r2 = await api.restoreVersion('a/b', 3);
    expect(r2.changed).toBeNull();
    expect(r2.version).toMatchObject({ id: 5, kind: 'restore' });
    expect(s.calls[0].url).toBe('http://h/api/v1/documents/a%2Fb/versions/3/restore');
    expect(s.calls[0].init.method).toBe('POST');
    expect(headers(s.calls[0]).Authorization).toBe('Bearer t');
  });

  it('passes an abort signal through and rethrows the abort', async () => {
    const ctl = new AbortController();
    const fetch = vi.fn(async (_u: RequestInfo | URL, init?: RequestInit) => {
      expect(init?.signal).toBe(ctl.signal);
      throw new DOMException('aborted', 'AbortError');
    });
    const api = createApi({ base: 'http://h', fetch: fetch as unknown as typeof globalThis.fetch });
    ctl.abort();
    await expect(api.versionUpdate('x', 1, ctl.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('history formatting', () => {
  it('formats sizes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(1234)).toBe('1.2 kB');
    expect(formatBytes(45_600)).toBe('46 kB');
    expect(formatBytes(3_400_000)).toBe('3.4 MB');
    expect(formatBytes(-1)).toBe('');
  });
  it('names a version by its label, else by its kind', () => {
    expect(versionTitle(V3)).toBe('before rewrite');
    expect(versionTitle({ ...V3, label: null, kind: 'auto' })).toBe('Automatic snapshot');
    expect(versionTitle({ ...V3, label: null, kind: 'manual' })).toBe('Saved version');
    expect(versionTitle({ ...V3, label: null, kind: 'restore' })).toBe('Restored');
  });
});
