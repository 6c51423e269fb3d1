import { type KV, readJson, writeJson } from './storage';

export const USER_KEY = 'weft:user';
export const MAX_USER_NAME = 40;

export interface UserPrefs {
  name: string;
  /** `#rrggbb` */
  color: string;
}

/** Saturated colours that keep white label text readable. */
export const PALETTE = [
  '#e03131', '#c2255c', '#9c36b5', '#6741d9', '#3b5bdb', '#1971c2',
  '#0c8599', '#099268', '#2f9e44', '#e8590c', '#d9480f', '#5c7cfa',
];

const ADJECTIVES = ['Swift', 'Quiet', 'Bright', 'Clever', 'Brave', 'Calm', 'Lucky', 'Bold', 'Witty', 'Gentle'];
const ANIMALS = ['Otter', 'Falcon', 'Lynx', 'Heron', 'Badger', 'Panda', 'Fox', 'Koala', 'Orca', 'Wren'];

export function isHexColor(c: unknown): c is string {
  return typeof c === 'string' && /^#[0-9a-fA-F]{6}$/.test(c);
}

export function normalizeUserName(name: unknown): string {
  if (typeof name !== 'string') return '';
  return name.replace(/\s+/g, ' ').trim().slice(0, MAX_USER_NAME);
}

export function randomUser(rand: () => number = Math.random): UserPrefs {
  const pick = <T>(a: T[]) => a[Math.floor(rand() * a.length) % a.length];
  return { name: `${pick(ADJECTIVES)} ${pick(ANIMALS)}`, color: pick(PALETTE) };
}

/** The remembered user, or a fresh random one (which is then remembered). */
export function loadUser(store: KV, rand: () => number = Math.random): UserPrefs {
  const saved = readJson<Partial<UserPrefs>>(store, USER_KEY);
  const fresh = randomUser(rand);
  const user: UserPrefs = {
    name: normalizeUserName(saved?.name) || fresh.name,
    color: isHexColor(saved?.color) ? saved!.color!.toLowerCase() : fresh.color,
  };
  if (!saved || saved.name !== user.name || saved.color !== user.color) writeJson(store, USER_KEY, user);
  return user;
}

/** Save a change; invalid fields keep their previous values. */
export function saveUser(store: KV, patch: Partial<UserPrefs>): UserPrefs {
  const cur = loadUser(store);
  const next: UserPrefs = {
    name: normalizeUserName(patch.name) || cur.name,
    color: isHexColor(patch.color) ? patch.color.toLowerCase() : cur.color,
  };
  writeJson(store, USER_KEY, next);
  return next;
}

/** A translucent version of the colour, for selections. */
export function lightColor(hex: string, alpha = 0.25): string {
  const a = Math.round(Math.min(1, Math.max(0, alpha)) * 255)
    .toString(16)
    .padStart(2, '0');
  return `${hex}${a}`;
}

export function initials(name: string): string {
  const parts = normalizeUserName(name).split(' ').filter(Boolean);
  if (parts.length === 0) return '?';
  const first = [...parts[0]][0] ?? '';
  const second = parts.length > 1 ? [...parts[parts.length - 1]][0] ?? '' : '';
  return (first + second).toUpperCase();
}
