import { describe, expect, it } from 'vitest';
import { ApiError, UNEXPECTED_RESPONSE } from '../src/lib/api';
import { listProblem, pageKindFor, Pager } from '../src/lib/doc-list';

describe('document list on /', () => {
  it('pages forward by cursor and back without one', () => {
    const p = new Pager();
    expect([p.page, p.cursor, p.hasPrevious]).toEqual([1, null, false]);
    p.next('b');
    p.next('d');
    expect([p.page, p.cursor, p.hasPrevious]).toEqual([3, 'd', true]);
    p.previous();
    expect([p.page, p.cursor]).toEqual([2, 'b']);
    p.previous();
    p.previous();
    expect([p.page, p.cursor]).toEqual([1, null]);
    p.next('x');
    p.reset();
    expect([p.page, p.cursor]).toEqual([1, null]);
  });

  it('opens a listed document where this device last opened it, else in rich text', () => {
    const recent = [
      { name: 'a', kind: 'code' as const, openedAt: 3 },
      { name: 'a', kind: 'quill' as const, openedAt: 2 },
      { name: 'b', kind: 'data' as const, openedAt: 1 },
    ];
    expect(pageKindFor('a', recent)).toBe('code');
    expect(pageKindFor('b', recent)).toBe('data');
    expect(pageKindFor('c', recent)).toBe('doc');
  });

  it('explains a refusal, a missing API and a failure differently', () => {
    const refused = listProblem(new ApiError(401, { code: 'token-required', detail: 'a token is required' }));
    expect(refused.kind).toBe('refused');
    expect(refused.message).toMatch(/admin key or a token/);
    expect(refused.message).toMatch(/a token is required/);
    expect(listProblem(new ApiError(403, {})).kind).toBe('refused');
    expect(listProblem(new ApiError(404, {})).kind).toBe('missing');
    expect(listProblem(new ApiError(0, { code: UNEXPECTED_RESPONSE })).kind).toBe('missing');
    const failed = listProblem(new ApiError(503, { detail: 'the store failed; retry later' }));
    expect(failed).toEqual({ kind: 'failed', message: 'The document list could not be loaded: the store failed; retry later' });
  });
});
