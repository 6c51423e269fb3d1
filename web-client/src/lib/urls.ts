import { checkDocName } from './names';

/** The client's pages that open one document: each is `{prefix}{name}`. */
export type PageKind = 'doc' | 'code' | 'monaco' | 'quill' | 'data';

export interface PageInfo {
  kind: PageKind;
  /** path prefix, ending in `/` */
  prefix: string;
  /** short label (badges, menus) */
  label: string;
  /** one line for the document list */
  blurb: string;
}

/**
 * Every document page. `doc` is served by index.html; the others by their own
 * `{page}.html` (the server serves `{page}.html` for `/{page}/...` when the build has it).
 */
export const PAGES: readonly PageInfo[] = [
  { kind: 'doc', prefix: '/d/', label: 'Rich text', blurb: 'Tiptap (ProseMirror): headings, lists, links, version history' },
  { kind: 'code', prefix: '/code/', label: 'Code', blurb: 'CodeMirror 6 on a plain Y.Text' },
  { kind: 'monaco', prefix: '/monaco/', label: 'Monaco', blurb: 'the VS Code editor (Monaco) on a plain Y.Text' },
  { kind: 'quill', prefix: '/quill/', label: 'Quill', blurb: 'Quill rich text on a formatted Y.Text' },
  { kind: 'data', prefix: '/data/', label: 'To-do list', blurb: 'a shared to-do list: Y.Array of Y.Map items, no editor library' },
];

export function pageInfo(kind: PageKind): PageInfo {
  return PAGES.find((p) => p.kind === kind) ?? PAGES[0];
}

export function isPageKind(k: unknown): k is PageKind {
  return typeof k === 'string' && PAGES.some((p) => p.kind === k);
}

export type Route =
  | { page: 'home' }
  | { page: PageKind; name: string }
  | { page: 'invalid'; kind: PageKind; raw: string; reason: string };

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Client-side routing on `location.pathname`: `/`, `/d/{name}`, `/code/{name}`, `/monaco/{name}`, ... */
export function parseRoute(pathname: string): Route {
  for (const { prefix, kind } of PAGES) {
    if (pathname.startsWith(prefix)) {
      const raw = safeDecode(pathname.slice(prefix.length));
      const check = checkDocName(raw);
      if (check.ok) return { page: kind, name: raw };
      return { page: 'invalid', kind, raw, reason: check.reason };
    }
  }
  return { page: 'home' };
}

/** Document names only contain unreserved characters and `/`, so they go into paths verbatim. */
export function pagePath(kind: PageKind, name: string): string {
  return `${pageInfo(kind).prefix}${name}`;
}

export function docPath(name: string): string {
  return pagePath('doc', name);
}

export function codePath(name: string): string {
  return pagePath('code', name);
}

export interface LocationLike {
  protocol: string;
  host: string;
  origin?: string;
  search: string;
}

/**
 * The y-websocket server URL (without the document name).
 * Priority: `?server=` query param, then build-time `VITE_WEFT_URL`, then
 * `ws(s)://{location.host}/ws`. A trailing slash is removed because the
 * provider appends `/{docName}` itself.
 */
export function resolveServerUrl(loc: LocationLike, buildTimeUrl?: string): string {
  const param = new URLSearchParams(loc.search).get('server');
  let url: string;
  if (param && param.trim()) url = param.trim();
  else if (buildTimeUrl && buildTimeUrl.trim()) url = buildTimeUrl.trim();
  else url = `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
  return url.replace(/\/+$/, '');
}

/** The URL the stock WebsocketProvider will open: `${serverUrl}/${docName}?{params}`. */
export function websocketUrl(serverUrl: string, docName: string, params: Record<string, string> = {}): string {
  const q = new URLSearchParams(params).toString();
  return `${serverUrl}/${docName}${q ? `?${q}` : ''}`;
}

/** Provider params: only `token` is passed through from the page URL for now. */
export function providerParams(search: string): Record<string, string> {
  const token = new URLSearchParams(search).get('token');
  return token ? { token } : {};
}

/**
 * Read-only when asked (`?readonly=1`) or when the page's `?token=` only grants reading
 * (a Weft token's `access` claim is `read`). The server enforces it either way; this only
 * makes the editor honest about it instead of letting edits bounce.
 */
export function isReadOnly(search: string): boolean {
  const params = new URLSearchParams(search);
  const v = params.get('readonly');
  if (v !== null && v !== '0' && v !== 'false') return true;
  const token = params.get('token');
  return token !== null && tokenAccess(token) === 'read';
}

/** The claims of a JWT, read without verifying them (the server verifies). */
function tokenClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (!payload) return {};
  try {
    const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as unknown;
    return claims && typeof claims === 'object' ? (claims as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The `access` claim of a JWT, read without verifying it (the server verifies). */
export function tokenAccess(token: string): string | undefined {
  const { access } = tokenClaims(token);
  return typeof access === 'string' ? access : undefined;
}

/**
 * The name prefix a Weft token covers when its `doc` claim is a scope (`notes/*` -> `notes/`,
 * `*` -> ``); undefined for a token of one document. Listing documents needs such a token.
 */
export function tokenScope(token: string): string | undefined {
  const { doc } = tokenClaims(token);
  return typeof doc === 'string' && doc.endsWith('*') ? doc.slice(0, -1) : undefined;
}

/**
 * Query parameters kept when navigating between the client's own pages
 * (so a `?server=` override survives going from the list to a document).
 */
export function carriedQuery(search: string): string {
  const from = new URLSearchParams(search);
  const to = new URLSearchParams();
  const server = from.get('server');
  if (server) to.set('server', server);
  const s = to.toString();
  return s ? `?${s}` : '';
}

/** The link to share: `{origin}/d/{name}` (or the page's own prefix) (plus a non-default `?server=`; never the token). */
export function shareLink(origin: string, name: string, search = '', kind: PageKind = 'doc'): string {
  return `${origin}${pagePath(kind, name)}${carriedQuery(search)}`;
}
