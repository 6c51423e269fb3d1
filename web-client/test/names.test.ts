import { describe, expect, it } from 'vitest';
import { checkDocName, isValidDocName, MAX_NAME_BYTES, randomDocName } from '../src/lib/names';

describe('document names', () => {
  it('accepts letters, digits and -_.~/', () => {
    for (const n of ['a', 'A1', 'team/notes', 'my-doc_v2.final~', 'a/b/c', '.hidden', 'x..y', '~', '0']) {
      expect(isValidDocName(n), n).toBe(true);
    }
  });
  it('rejects empty and disallowed characters', () => {
    expect(checkDocName('')).toEqual({ ok: false, reason: 'Enter a document name.' });
    for (const n of ['a b', 'ä', 'a?b', 'a#b', 'a%20b', 'a\\b', '<x>', 'emoji😀', 'a+b', 'a:b']) {
      expect(isValidDocName(n), n).toBe(false);
    }
    const r = checkDocName('a b');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain('“ ”');
  });
  it('enforces 1..256 bytes', () => {
    expect(isValidDocName('x'.repeat(MAX_NAME_BYTES))).toBe(true);
    const r = checkDocName('x'.repeat(MAX_NAME_BYTES + 1));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(/too long/);
  });
  it('rejects dot segments the URL parser would rewrite', () => {
    for (const n of ['.', '..', 'a/../b', 'a/./b', '../x', 'x/..']) expect(isValidDocName(n), n).toBe(false);
  });
  it('random names are valid', () => {
    for (let i = 0; i < 50; i++) expect(isValidDocName(randomDocName())).toBe(true);
    expect(randomDocName(() => 0)).toBe('doc-aaaaaa');
  });
});
