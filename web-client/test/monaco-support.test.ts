import { describe, expect, it } from 'vitest';
import { cssString, languageFor, monacoCursorCss } from '../src/lib/monaco-support';

describe('remote cursor CSS for y-monaco', () => {
  it('colours and names every other client', () => {
    const states = new Map<number, Record<string, any>>([
      [1, { user: { name: 'Me', color: '#e03131' } }],
      [22, { user: { name: 'Ben  Beta', color: '#1971c2' }, selection: {} }],
      [33, { cursor: {} }], // no user: skipped
      [44, { user: { name: '', color: 'red' } }],
    ]);
    const css = monacoCursorCss(states, 1);
    expect(css).not.toContain('-1{');
    expect(css).toContain('.yRemoteSelection-22{background-color:#1971c240}');
    expect(css).toContain('.yRemoteSelectionHead-22{border-left:2px solid #1971c2}');
    expect(css).toContain('.yRemoteSelectionHead-22::after{content:"Ben Beta";background:#1971c2}');
    expect(css).not.toContain('-33');
    expect(css).toContain('.yRemoteSelectionHead-44::after{content:"Anonymous";background:#868e96}');
  });
  it('escapes names so they cannot break out of the rule or the <style> element', () => {
    expect(cssString('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(cssString('x</style><b>')).toBe('"x\\3c /style>\\3c b>"');
    expect(cssString('line\nbreak')).toBe('"line break"');
    const css = monacoCursorCss(new Map([[5, { user: { name: '"}body{display:none', color: '#000000' } }]]), 1);
    expect(css).toContain('content:"\\"}body{display:none"');
  });
});

describe('Monaco language from the document name', () => {
  it('highlights JS/TS files, plain text otherwise', () => {
    expect(languageFor('src/main.js')).toBe('javascript');
    expect(languageFor('a.MJS')).toBe('javascript');
    expect(languageFor('App.jsx')).toBe('javascript');
    expect(languageFor('lib/x.ts')).toBe('typescript');
    expect(languageFor('x.tsx')).toBe('typescript');
    expect(languageFor('notes')).toBe('plaintext');
    expect(languageFor('js')).toBe('plaintext');
    expect(languageFor('data.json')).toBe('plaintext');
  });
});
