import './styles.css';
import { parseRoute } from './lib/urls';
import { renderInvalid } from './pages/home';
import { renderCode } from './pages/code-editor';

const root = document.getElementById('app')!;
const route = parseRoute(location.pathname);
if (route.page === 'code' || route.page === 'doc') renderCode(root, route.name);
else if (route.page === 'invalid') renderInvalid(root, route.raw, route.reason);
else location.replace('/' + location.search);
