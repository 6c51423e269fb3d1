import { mountPage } from './entry';
import { renderMonaco } from './pages/monaco-editor';

mountPage(renderMonaco);
