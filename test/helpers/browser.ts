import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export { freePort } from './ports.ts';

/** Debian's chromium (make test installs it); CHROMIUM_PATH points elsewhere. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => p !== undefined);
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error('chromium is not installed: run `make test` (it installs Debian\'s chromium) or set CHROMIUM_PATH');
  return found;
}

export async function launchBrowser(): Promise<Browser> {
  // --no-sandbox: tests run as root in CI containers, where chromium's sandbox cannot start.
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** Where a browser test keeps its screenshots: test-artifacts/<suite>/. */
export function artifactDir(suite: string): string {
  const dir = join('test-artifacts', suite);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Saves a full-page screenshot of `page` as `<dir>/<name>.png`; never throws (it runs while a test is failing). */
export async function screenshot(page: Page | undefined, dir: string, name: string): Promise<string | undefined> {
  if (!page) return undefined;
  const path = join(dir, `${name.replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 80)}.png`);
  try {
    await page.screenshot({ path, fullPage: true });
    return path;
  } catch {
    return undefined;
  }
}
