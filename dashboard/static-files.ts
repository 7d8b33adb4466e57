import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

/** The page's files, served from this folder and from node_modules: nothing is fetched from the internet. */
const FILES: Record<string, { path: () => string; type: string }> = {
  '/': { path: () => fileURLToPath(new URL('./web/index.html', import.meta.url)), type: 'text/html; charset=utf-8' },
  '/app.js': { path: () => fileURLToPath(new URL('./web/app.js', import.meta.url)), type: 'text/javascript; charset=utf-8' },
  '/charts.js': { path: () => fileURLToPath(new URL('./web/charts.js', import.meta.url)), type: 'text/javascript; charset=utf-8' },
  '/panels.js': { path: () => fileURLToPath(new URL('./web/panels.js', import.meta.url)), type: 'text/javascript; charset=utf-8' },
  '/scores.js': { path: () => fileURLToPath(new URL('./web/scores.js', import.meta.url)), type: 'text/javascript; charset=utf-8' },
  '/series.js': { path: () => fileURLToPath(new URL('./web/series.js', import.meta.url)), type: 'text/javascript; charset=utf-8' },
  '/app.css': { path: () => fileURLToPath(new URL('./web/app.css', import.meta.url)), type: 'text/css; charset=utf-8' },
  '/vendor/lightweight-charts.js': {
    // The package exports no dist/ subpaths: find it by its package.json.
    path: () => join(dirname(require.resolve('lightweight-charts/package.json')), 'dist', 'lightweight-charts.standalone.production.js'),
    type: 'text/javascript; charset=utf-8',
  },
};

const cache = new Map<string, Buffer>();

/** A static file of the page by URL path; undefined when there is none. Read once, then kept (a few hundred KB). */
export async function staticFile(path: string): Promise<{ body: Buffer; type: string } | undefined> {
  const f = FILES[path];
  if (!f) return undefined;
  let body = cache.get(path);
  if (!body) {
    body = await readFile(f.path());
    cache.set(path, body);
  }
  return { body, type: f.type };
}
