import { mountPage } from './entry';
import { renderData } from './pages/data-app';

mountPage(renderData);
