import { mountPage } from './entry';
import { renderQuill } from './pages/quill-editor';

mountPage(renderQuill);
