import './styles.css';
import { parseRoute } from './lib/urls';
import { renderHome } from './pages/home';
import { renderInvalid } from './pages/invalid';

const root = document.getElementById('app')!;
const route = parseRoute(location.pathname);

function loadFailed(err: unknown): void {
  console.error(err);
  root.textContent = '';
  const p = document.createElement('p');
  p.className = 'banner';
  p.dataset.state = 'denied';
  p.textContent = 'The editor could not be loaded (a newer version may have been deployed). Reload the page to try again.';
  root.append(p);
}

if (route.page === 'doc') {
  // The editor (Tiptap + Yjs) is loaded only on document pages.
  import('./pages/rich-editor').then((m) => m.renderEditor(root, route.name), loadFailed);
} else if (route.page === 'code') {
  import('./pages/code-editor').then((m) => m.renderCode(root, route.name), loadFailed);
} else if (route.page === 'invalid') {
  renderInvalid(root, route.raw, route.reason);
} else {
  renderHome(root);
}
