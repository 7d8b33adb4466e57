import { rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Lints a probe file written into the tree (the type-aware parser needs a real file) and removes it. */
async function lintProbe(relPath: string, code: string): Promise<string[]> {
  const path = `${ROOT}${relPath}`;
  writeFileSync(path, code);
  try {
    const [result] = await new ESLint({ cwd: ROOT }).lintFiles([path]);
    return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
  } finally {
    rmSync(path, { force: true });
  }
}

/**
 * The layout rules are lint rules: an import around a folder's door, or one that runs
 * against the layers, fails `npx eslint .` (and so `make test`).
 */
describe('layout lint', () => {
  it('an import around another folder\'s door fails', async () => {
    const messages = await lintProbe('actors/ingest/lint-probe-door.ts', "export { HybridEngine } from '../prediction/hybrid-engine.ts';\n");
    expect(messages.join('\n')).toMatch(/through its door/);
  }, 60_000);

  it('an import up the layers fails, through the door or not', async () => {
    const messages = await lintProbe('streams/lint-probe-layer.ts', "export { startSystem } from '../actors/system/index.ts';\n");
    expect(messages.join('\n')).toMatch(/layers run one way/);
  }, 60_000);

  it('an import through a door, down the layers, passes', async () => {
    const messages = await lintProbe('actors/ingest/lint-probe-ok.ts', "export { subjects } from '../../streams/index.ts';\n");
    expect(messages).toEqual([]);
  }, 60_000);
});
