/**
 * The Weft document HTTP API (the document list, version history), typed. No DOM; `fetch` is injectable.
 *
 *   GET  /api/v1/documents?prefix=&limit=&cursor=         -> { documents: DocumentSummary[], next_cursor } (by name)
 *   GET  /api/v1/documents/{name}/versions               -> { versions: Version[] } (newest first)
 *   POST /api/v1/documents/{name}/versions  {label?}     -> 201 Version
 *   GET  /api/v1/documents/{name}/versions/{id}/update   -> the document at that version, one Yjs update
 *   POST /api/v1/documents/{name}/versions/{id}/restore  -> { restored, changed } (the server then pushes the
 *                                                           old state to every connected client)
 *
 * `{name}` is `encodeURIComponent(name)` (a `/` goes as `%2F`). Errors are
 * `application/problem+json` and become an {@link ApiError}.
 */
import { resolveServerUrl, type LocationLike } from './urls';

export type VersionKind = 'auto' | 'manual' | 'restore';

export interface Version {
  id: number;
  label: string | null;
  kind: VersionKind;
  /** RFC 3339 */
  created_at: string;
  size_bytes: number;
}

/** One document of the server's list (the fields the list shows). */
export interface DocumentSummary {
  name: string;
  /** RFC 3339 */
  updated_at: string;
  size_bytes: number;
  /** open WebSocket sessions on that server */
  connections: number;
}

export interface DocumentPage {
  documents: DocumentSummary[];
  /** pass as `cursor` for the next page; null on the last page */
  nextCursor: string | null;
}

export interface ListQuery {
  /** only names starting with this */
  prefix?: string;
  /** from a previous page's `nextCursor` */
  cursor?: string | null;
  /** page size, 1-1000 (the server's default is 100) */
  limit?: number;
}

export interface RestoreResult {
  /** the version restored */
  restored: number;
  /** false when the document already had that content (null: the server did not say) */
  changed: boolean | null;
  /** the version the server took of the restored state, when it sends it */
  version: Version | null;
}

/** RFC 9457 problem details, as the server sends them. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
}

export class ApiError extends Error {
  readonly status: number;
  /** machine-readable, e.g. `document_not_found` (empty when the server sent none) */
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly type: string;

  constructor(status: number, problem: Problem, fallback = '') {
    const detail = typeof problem.detail === 'string' ? problem.detail : '';
    const title = typeof problem.title === 'string' ? problem.title : '';
    super(detail || title || fallback || `The server answered HTTP ${status}.`);
    this.name = 'ApiError';
    this.status = status;
    this.code = typeof problem.code === 'string' ? problem.code : '';
    this.title = title;
    this.detail = detail;
    this.type = typeof problem.type === 'string' ? problem.type : '';
  }

  /** Compare codes whether spelled `document-not-found` or `document_not_found`. */
  is(code: string): boolean {
    const norm = (c: string) => c.toLowerCase().replace(/_/g, '-');
    return this.code !== '' && norm(this.code) === norm(code);
  }
}

/**
 * The API's origin for the WebSocket server the page talks to: `?server=` (or the
 * build-time URL) with ws→http and without its trailing `/ws`; else the page's origin.
 */
export function apiBaseUrl(loc: LocationLike & { origin: string }, buildTimeUrl?: string): string {
  const param = new URLSearchParams(loc.search).get('server');
  const explicit = (param && param.trim()) || (buildTimeUrl && buildTimeUrl.trim());
  if (!explicit) return loc.origin;
  return httpBaseFromWs(resolveServerUrl(loc, buildTimeUrl));
}

/** `wss://h/ws` -> `https://h`, `ws://h:1/prefix/ws/` -> `http://h:1/prefix`. */
export function httpBaseFromWs(wsUrl: string): string {
  return wsUrl
    .trim()
    .replace(/^ws(s?):\/\//i, (_m, s: string) => `http${s.toLowerCase()}://`)
    .replace(/\/+$/, '')
    .replace(/\/ws$/, '')
    .replace(/\/+$/, '');
}

export function versionsPath(docName: string): string {
  return `/api/v1/documents/${encodeURIComponent(docName)}/versions`;
}

export interface ApiOptions {
  /** e.g. `https://weft.example` (no trailing slash needed) */
  base: string;
  /** sent as `Authorization: Bearer {token}` */
  token?: string | null;
  fetch?: typeof fetch;
}

export interface DocumentApi {
  /** One page of the server's documents, by name (needs the admin key or a `prefix*` token when the server has auth). */
  listDocuments(query: ListQuery, signal?: AbortSignal): Promise<DocumentPage>;
  listVersions(docName: string, signal?: AbortSignal): Promise<Version[]>;
  createVersion(docName: string, label?: string | null): Promise<Version>;
  /** The Yjs update that rebuilds the document as it was at that version. */
  versionUpdate(docName: string, id: number, signal?: AbortSignal): Promise<Uint8Array>;
  restoreVersion(docName: string, id: number): Promise<RestoreResult>;
}

async function problemOf(res: Response): Promise<Problem> {
  try {
    const text = await res.text();
    const json = JSON.parse(text) as unknown;
    return json && typeof json === 'object' ? (json as Problem) : {};
  } catch {
    return {};
  }
}

function isVersion(v: unknown): v is Version {
  const o = v as Record<string, unknown>;
  return !!o && typeof o === 'object' && typeof o.id === 'number' && typeof o.created_at === 'string';
}

function isDocumentSummary(d: unknown): d is DocumentSummary {
  const o = d as Record<string, unknown>;
  return !!o && typeof o === 'object' && typeof o.name === 'string';
}

function normalizeSummary(d: DocumentSummary): DocumentSummary {
  return {
    name: d.name,
    updated_at: typeof d.updated_at === 'string' ? d.updated_at : '',
    size_bytes: typeof d.size_bytes === 'number' ? d.size_bytes : 0,
    connections: typeof d.connections === 'number' ? d.connections : 0,
  };
}

/** `/api/v1/documents?prefix=..&limit=..&cursor=..` (empty parameters left out). */
export function listPath(query: ListQuery): string {
  const q = new URLSearchParams();
  if (query.prefix) q.set('prefix', query.prefix);
  if (query.limit !== undefined) q.set('limit', String(query.limit));
  if (query.cursor) q.set('cursor', query.cursor);
  const s = q.toString();
  return `/api/v1/documents${s ? `?${s}` : ''}`;
}

function normalizeVersion(v: Version): Version {
  return {
    id: v.id,
    label: typeof v.label === 'string' && v.label !== '' ? v.label : null,
    kind: v.kind === 'manual' || v.kind === 'restore' ? v.kind : 'auto',
    created_at: v.created_at,
    size_bytes: typeof v.size_bytes === 'number' ? v.size_bytes : 0,
  };
}

/** `code` of the error for an answer that is not the API's (e.g. an HTML page: no API there). */
export const UNEXPECTED_RESPONSE = 'unexpected-response';

function badResponse(what: string): ApiError {
  return new ApiError(0, { code: UNEXPECTED_RESPONSE }, `The server sent an unexpected answer to ${what}.`);
}

export function createApi(opts: ApiOptions): DocumentApi {
  const base = opts.base.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));

  async function request(path: string, init: RequestInit & { accept: string }): Promise<Response> {
    const headers: Record<string, string> = { Accept: `${init.accept}, application/problem+json` };
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, { method: init.method ?? 'GET', body: init.body, signal: init.signal, headers });
    } catch (e) {
      if ((e as Error)?.name === 'AbortError') throw e;
      throw new ApiError(0, {}, 'Could not reach the server. Check your connection and try again.');
    }
    if (!res.ok) throw new ApiError(res.status, await problemOf(res));
    return res;
  }

  async function json(path: string, init: RequestInit): Promise<unknown> {
    const res = await request(path, { ...init, accept: 'application/json' });
    try {
      return await res.json();
    } catch {
      throw badResponse(path);
    }
  }

  return {
    async listDocuments(query, signal) {
      const body = (await json(listPath(query), { signal })) as { documents?: unknown; next_cursor?: unknown };
      if (!body || !Array.isArray(body.documents)) throw badResponse('the document list');
      return {
        documents: body.documents.filter(isDocumentSummary).map(normalizeSummary),
        nextCursor: typeof body.next_cursor === 'string' && body.next_cursor !== '' ? body.next_cursor : null,
      };
    },
    async listVersions(docName, signal) {
      const body = (await json(versionsPath(docName), { signal })) as { versions?: unknown };
      if (!body || !Array.isArray(body.versions)) throw badResponse('the version list');
      return body.versions.filter(isVersion).map(normalizeVersion);
    },
    async createVersion(docName, label) {
      const clean = typeof label === 'string' ? label.trim() : '';
      const body = await json(versionsPath(docName), { method: 'POST', body: JSON.stringify(clean ? { label: clean } : {}) });
      if (!isVersion(body)) throw badResponse('saving a version');
      return normalizeVersion(body);
    },
    async versionUpdate(docName, id, signal) {
      const res = await request(`${versionsPath(docName)}/${id}/update`, { signal, accept: 'application/octet-stream' });
      return new Uint8Array(await res.arrayBuffer());
    },
    async restoreVersion(docName, id) {
      const body = (await json(`${versionsPath(docName)}/${id}/restore`, { method: 'POST' })) as Record<string, unknown>;
      if (!body || typeof body.restored !== 'number') throw badResponse('restoring a version');
      return {
        restored: body.restored,
        changed: typeof body.changed === 'boolean' ? body.changed : null,
        version: isVersion(body.version) ? normalizeVersion(body.version) : null,
      };
    },
  };
}

/** `1234` -> `1.2 kB` (decimal units, like the server's sizes). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB'];
  let v = n / 1000;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

const KIND_LABEL: Record<VersionKind, string> = { auto: 'Automatic snapshot', manual: 'Saved version', restore: 'Restored' };

/** What the history list shows as a version's name: its label, else what kind of version it is. */
export function versionTitle(v: Version): string {
  return v.label ?? KIND_LABEL[v.kind];
}
