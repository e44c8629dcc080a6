import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

/**
 * Code shown in the README and docs/ comes from docs/snippets/*.ts, which `npm run typecheck` compiles.
 * A page marks each included snippet with `<!-- snippet: path -->` before the code block.
 */
const SNIPPET = /<!-- snippet: (\S+) -->\n```ts\n([\s\S]*?)```\n/g;
const SUPPORT_FILES = new Set(['docs/snippets/pino-stub.ts']);

async function pages(): Promise<string[]> {
  const docs = (await readdir('docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
  return ['README.md', ...docs];
}

async function includes(page: string): Promise<Array<{ path: string; code: string }>> {
  const text = await readFile(page, 'utf8');
  return [...text.matchAll(SNIPPET)].map((match) => ({ path: match[1] ?? '', code: match[2] ?? '' }));
}

describe('docs snippets', () => {
  it('are included verbatim, so the code shown is the code type-checked', async () => {
    for (const page of await pages()) {
      for (const { path, code } of await includes(page)) {
        expect(code, `${page} includes ${path}`).toBe(await readFile(path, 'utf8'));
      }
    }
  });

  it('are each shown on at least one page', async () => {
    const included = new Set(
      (await Promise.all((await pages()).map(includes))).flat().map(({ path }) => path),
    );
    const snippets = (await readdir('docs/snippets'))
      .filter((name) => name.endsWith('.ts'))
      .map((name) => `docs/snippets/${name}`)
      .filter((path) => !SUPPORT_FILES.has(path));
    expect(snippets.filter((path) => !included.has(path))).toEqual([]);
  });

  it('shows the user-facing pages at least one snippet each', async () => {
    for (const page of ['README.md', 'docs/config.md', 'docs/feature-flags.md', 'docs/watcher.md']) {
      expect((await includes(page)).length, page).toBeGreaterThan(0);
    }
  });
});
