/**
 * The page's files, served from memory under `/ui/`: plain HTML, CSS and ES modules kept as strings in
 * TypeScript modules, so the package needs no build step for them and `tsc` ships them like any code.
 * @module
 */
import { PAGE_CSS } from './page-css.js';
import { PAGE_HTML } from './page-html.js';
import { PAGE_JS } from './page-js.js';

/** One served file. */
export interface PageAsset {
  readonly type: string;
  readonly body: string;
}

const JS = 'text/javascript; charset=utf-8';

/** File name below `/ui/` → content. */
export const PAGE_ASSETS: ReadonlyMap<string, PageAsset> = new Map<string, PageAsset>([
  ['index.html', { type: 'text/html; charset=utf-8', body: PAGE_HTML }],
  ['app.css', { type: 'text/css; charset=utf-8', body: PAGE_CSS }],
  ...Object.entries(PAGE_JS).map(([name, body]): [string, PageAsset] => [`js/${name}`, { type: JS, body }]),
]);
