import { carriedQuery } from '../lib/urls';
import { brand } from '../ui/chrome';
import { h } from '../ui/dom';

/** The page for an address whose document name is not valid (its own module: every page may need it, the list's code not). */
export function renderInvalid(root: HTMLElement, raw: string, reason: string): void {
  document.title = 'Weft — invalid document name';
  root.append(
    h('header', { class: 'topbar' }, h('div', { class: 'topbar-left' }, brand())),
    h('main', { class: 'home' }, h('section', { class: 'card' },
      h('h1', {}, 'Invalid document name'),
      h('p', {}, h('code', {}, raw || '(empty)'), ' — ', reason),
      h('p', {}, h('a', { href: `/${carriedQuery(location.search)}` }, '← All documents')))));
}
