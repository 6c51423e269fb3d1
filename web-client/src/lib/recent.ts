import { isValidDocName } from './names';
import { type KV, readJson, writeJson } from './storage';
import { isPageKind, type PageKind } from './urls';

export const RECENT_KEY = 'weft:recent';
export const RECENT_MAX = 20;

export interface RecentDoc {
  name: string;
  kind: PageKind;
  /** ms since epoch */
  openedAt: number;
}

export function loadRecent(store: KV): RecentDoc[] {
  const raw = readJson<unknown>(store, RECENT_KEY);
  if (!Array.isArray(raw)) return [];
  const out: RecentDoc[] = [];
  for (const r of raw) {
    if (!r || typeof r !== 'object') continue;
    const { name, kind, openedAt } = r as Record<string, unknown>;
    if (typeof name !== 'string' || !isValidDocName(name)) continue;
    out.push({
      name,
      kind: isPageKind(kind) ? kind : 'doc',
      openedAt: typeof openedAt === 'number' && Number.isFinite(openedAt) ? openedAt : 0,
    });
  }
  return out.sort((a, b) => b.openedAt - a.openedAt).slice(0, RECENT_MAX);
}

/** Move (or add) a document to the top of the recent list. */
export function touchRecent(store: KV, name: string, kind: PageKind = 'doc', now = Date.now()): RecentDoc[] {
  if (!isValidDocName(name)) return loadRecent(store);
  const list = loadRecent(store).filter((r) => !(r.name === name && r.kind === kind));
  list.unshift({ name, kind, openedAt: now });
  const trimmed = list.slice(0, RECENT_MAX);
  writeJson(store, RECENT_KEY, trimmed);
  return trimmed;
}

export function removeRecent(store: KV, name: string, kind: PageKind = 'doc'): RecentDoc[] {
  const list = loadRecent(store).filter((r) => !(r.name === name && r.kind === kind));
  writeJson(store, RECENT_KEY, list);
  return list;
}

export function formatAgo(then: number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 45) return 'just now';
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.round(m / 60);
  if (h < 24) return `${h} h ago`;
  const d = Math.round(h / 24);
  if (d < 30) return `${d} d ago`;
  return new Date(then).toISOString().slice(0, 10);
}
