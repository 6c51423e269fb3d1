import { mountPage } from './entry';
import { renderCode } from './pages/code-editor';

mountPage(renderCode);
