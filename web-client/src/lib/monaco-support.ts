/** Pure helpers for the Monaco page (no Monaco import, so they run in unit tests). */
import { isHexColor, normalizeUserName } from './user';

/** A CSS string literal (for `content:`), safe inside a <style> element. */
export function cssString(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`).replace(/[\n\r\f]/g, ' ').replace(/</g, '\\3c ')}"`;
}

/**
 * y-monaco decorates a remote selection with the classes `yRemoteSelection-{clientID}`
 * and its caret with `yRemoteSelectionHead-{clientID}`, and leaves the colours to the page.
 * This turns the awareness states (`user: {name, color}`) into those rules, with the
 * name shown in a label above the caret.
 */
export function monacoCursorCss(states: Map<number, Record<string, any>>, selfId: number): string {
  const rules: string[] = [];
  for (const [id, state] of states) {
    if (id === selfId || !Number.isInteger(id)) continue;
    const user = state?.user;
    if (!user || typeof user !== 'object') continue;
    const color = isHexColor(user.color) ? user.color : '#868e96';
    const name = normalizeUserName(user.name) || 'Anonymous';
    rules.push(
      `.yRemoteSelection-${id}{background-color:${color}40}`,
      `.yRemoteSelectionHead-${id}{border-left:2px solid ${color}}`,
      `.yRemoteSelectionHead-${id}::after{content:${cssString(name)};background:${color}}`,
    );
  }
  return rules.join('\n');
}

/** Highlighting from the document name: `.js`/`.ts` (and jsx/mjs/cjs...) get JS/TS, anything else plain text. */
export function languageFor(docName: string): 'javascript' | 'typescript' | 'plaintext' {
  if (/\.(m|c)?jsx?$/i.test(docName)) return 'javascript';
  if (/\.(m|c)?tsx?$/i.test(docName)) return 'typescript';
  return 'plaintext';
}
