import { describe, expect, it } from 'vitest';
import { formatAgo, loadRecent, RECENT_KEY, RECENT_MAX, removeRecent, touchRecent } from '../src/lib/recent';
import { MemoryStorage } from '../src/lib/storage';
import { initials, isHexColor, lightColor, loadUser, normalizeUserName, PALETTE, saveUser, USER_KEY } from '../src/lib/user';

describe('recent documents', () => {
  it('adds, reorders, dedupes and trims', () => {
    const s = new MemoryStorage();
    expect(loadRecent(s)).toEqual([]);
    touchRecent(s, 'a', 'doc', 1);
    touchRecent(s, 'b', 'doc', 2);
    touchRecent(s, 'a', 'doc', 3);
    touchRecent(s, 'a', 'code', 4);
    expect(loadRecent(s).map((r) => `${r.kind}:${r.name}`)).toEqual(['code:a', 'doc:a', 'doc:b']);
    for (let i = 0; i < 30; i++) touchRecent(s, `n${i}`, 'doc', 10 + i);
    const list = loadRecent(s);
    expect(list).toHaveLength(RECENT_MAX);
    expect(list[0].name).toBe('n29');
  });
  it('remembers which editor a document was opened in', () => {
    const s = new MemoryStorage();
    touchRecent(s, 'm', 'monaco', 1);
    touchRecent(s, 'q', 'quill', 2);
    touchRecent(s, 'd', 'data', 3);
    s.setItem(RECENT_KEY, JSON.stringify([...JSON.parse(s.getItem(RECENT_KEY)!), { name: 'old', kind: 'vim', openedAt: 0 }]));
    expect(loadRecent(s).map((r) => `${r.kind}:${r.name}`)).toEqual(['data:d', 'quill:q', 'monaco:m', 'doc:old']);
  });
  it('removes', () => {
    const s = new MemoryStorage();
    touchRecent(s, 'a', 'doc', 1);
    touchRecent(s, 'b', 'doc', 2);
    expect(removeRecent(s, 'a').map((r) => r.name)).toEqual(['b']);
    expect(loadRecent(s).map((r) => r.name)).toEqual(['b']);
  });
  it('survives garbage in storage and ignores invalid names', () => {
    const s = new MemoryStorage();
    s.setItem(RECENT_KEY, '{not json');
    expect(loadRecent(s)).toEqual([]);
    s.setItem(RECENT_KEY, JSON.stringify([{ name: 'ok', openedAt: 5 }, { name: 'bad name' }, null, 7, { name: 'x', kind: 'code' }]));
    expect(loadRecent(s)).toEqual([
      { name: 'ok', kind: 'doc', openedAt: 5 },
      { name: 'x', kind: 'code', openedAt: 0 },
    ]);
    expect(touchRecent(s, 'in valid')).toHaveLength(2);
  });
  it('formats relative times', () => {
    const now = 1_000_000_000_000;
    expect(formatAgo(now - 10_000, now)).toBe('just now');
    expect(formatAgo(now - 5 * 60_000, now)).toBe('5 min ago');
    expect(formatAgo(now - 3 * 3600_000, now)).toBe('3 h ago');
    expect(formatAgo(now - 2 * 86400_000, now)).toBe('2 d ago');
  });
});

describe('user name and colour', () => {
  it('creates and remembers a random user', () => {
    const s = new MemoryStorage();
    const u = loadUser(s);
    expect(u.name).toMatch(/^\w+ \w+$/);
    expect(PALETTE).toContain(u.color);
    expect(loadUser(s)).toEqual(u);
    expect(JSON.parse(s.getItem(USER_KEY)!)).toEqual(u);
  });
  it('saves edits and keeps old values for invalid ones', () => {
    const s = new MemoryStorage();
    loadUser(s);
    const u = saveUser(s, { name: '  Ada   Lovelace ', color: '#AABBCC' });
    expect(u).toEqual({ name: 'Ada Lovelace', color: '#aabbcc' });
    expect(saveUser(s, { name: '   ', color: 'red' })).toEqual(u);
    expect(loadUser(s)).toEqual(u);
  });
  it('repairs a corrupted entry', () => {
    const s = new MemoryStorage();
    s.setItem(USER_KEY, JSON.stringify({ name: 42, color: '#12345' }));
    const u = loadUser(s, () => 0);
    expect(u).toEqual({ name: 'Swift Otter', color: PALETTE[0] });
  });
  it('helpers', () => {
    expect(isHexColor('#a1b2c3')).toBe(true);
    expect(isHexColor('#abc')).toBe(false);
    expect(lightColor('#112233', 0.2)).toBe('#11223333');
    expect(initials('ada lovelace')).toBe('AL');
    expect(initials('Zoë')).toBe('Z');
    expect(initials('')).toBe('?');
    expect(normalizeUserName('x'.repeat(100))).toHaveLength(40);
  });
});
