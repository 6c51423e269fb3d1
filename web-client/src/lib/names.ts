/**
 * Document names: letters, digits and `-_.~/`, 1 to 256 bytes (all allowed
 * characters are ASCII, so bytes == characters).
 *
 * The client additionally refuses names whose path segments are `.` or `..`:
 * the browser's URL parser would silently rewrite `/ws/a/../b` into `/ws/b`,
 * so such a document could not be reached reliably.
 */
export const MAX_NAME_BYTES = 256;
const ALLOWED = /^[A-Za-z0-9\-_.~/]+$/;

export type NameCheck = { ok: true; name: string } | { ok: false; reason: string };

export function checkDocName(raw: string): NameCheck {
  const name = raw;
  if (name.length === 0) return { ok: false, reason: 'Enter a document name.' };
  const bytes = new TextEncoder().encode(name).length;
  if (bytes > MAX_NAME_BYTES) {
    return { ok: false, reason: `Name is too long (${bytes} bytes, at most ${MAX_NAME_BYTES}).` };
  }
  if (!ALLOWED.test(name)) {
    const bad = [...name].find((c) => !ALLOWED.test(c));
    return {
      ok: false,
      reason: `“${bad}” is not allowed: use letters, digits and - _ . ~ /`,
    };
  }
  if (name.split('/').some((seg) => seg === '.' || seg === '..')) {
    return { ok: false, reason: 'Path segments “.” and “..” are not allowed.' };
  }
  return { ok: true, name };
}

export function isValidDocName(name: string): boolean {
  return checkDocName(name).ok;
}

/** Suggest a fresh, valid name such as `doc-7k2m9q`. */
export function randomDocName(rand: () => number = Math.random): string {
  const alphabet = 'abcdefghijkmnpqrstuvwxyz23456789';
  let s = '';
  for (let i = 0; i < 6; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return `doc-${s}`;
}
