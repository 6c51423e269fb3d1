/** The subset of the Web Storage API used here (so tests can pass an in-memory one). */
export interface KV {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export class MemoryStorage implements KV {
  private m = new Map<string, string>();
  getItem(k: string) {
    return this.m.has(k) ? (this.m.get(k) as string) : null;
  }
  setItem(k: string, v: string) {
    this.m.set(k, String(v));
  }
  removeItem(k: string) {
    this.m.delete(k);
  }
}

/** localStorage when usable (it throws in some privacy modes), else an in-memory fallback. */
export function defaultStorage(): KV {
  try {
    const ls = globalThis.localStorage;
    if (ls) {
      const probe = '__weft_probe__';
      ls.setItem(probe, '1');
      ls.removeItem(probe);
      return ls;
    }
  } catch {
    /* fall through */
  }
  return fallback;
}
const fallback = new MemoryStorage();

export function readJson<T>(store: KV, key: string): T | undefined {
  try {
    const raw = store.getItem(key);
    return raw == null ? undefined : (JSON.parse(raw) as T);
  } catch {
    return undefined;
  }
}

export function writeJson(store: KV, key: string, value: unknown): void {
  try {
    store.setItem(key, JSON.stringify(value));
  } catch {
    /* quota or disabled storage: not fatal */
  }
}
