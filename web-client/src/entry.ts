import './styles.css';
import { parseRoute } from './lib/urls';
import { renderInvalid } from './pages/invalid';

/**
 * Shared start-up of the single-editor pages (`code.html`, `monaco.html`, ...):
 * render the page for `/{page}/{name}`, explain an invalid name, and send
 * anything else to the document list.
 */
export function mountPage(render: (root: HTMLElement, docName: string) => void): void {
  const root = document.getElementById('app')!;
  const route = parseRoute(location.pathname);
  if (route.page === 'invalid') renderInvalid(root, route.raw, route.reason);
  else if (route.page === 'home') location.replace('/' + location.search);
  else render(root, route.name);
}
