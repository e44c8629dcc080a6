import { readdir, readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';

const PAGES = ['docs/config.md', 'docs/feature-flags.md'];
const SNIPPET = /<!-- snippet: (\S+) -->\n```ts\n([\s\S]*?)```\n/g;

/** Every snippet a page includes: the path it names and the code block that follows. */
async function includes(page: string): Promise<Array<{ path: string; code: string }>> {
  const text = await readFile(page, 'utf8');
  return [...text.matchAll(SNIPPET)].map((match) => ({ path: match[1] ?? '', code: match[2] ?? '' }));
}

describe('docs pages of the bindings', () => {
  it('include their snippets verbatim, so the code shown is the code type-checked', async () => {
    for (const page of PAGES) {
      const found = await includes(page);
      expect(found.length, page).toBeGreaterThan(0);
      for (const { path, code } of found) {
        expect(code, `${page} includes ${path}`).toBe(await readFile(path, 'utf8'));
      }
    }
  });

  it('include every snippet of theirs exactly once', async () => {
    const included = (await Promise.all(PAGES.map(includes))).flat().map(({ path }) => path);
    const snippets = (await readdir('docs/snippets'))
      .filter((name) => /^(config|flag)-.*\.ts$/.test(name))
      .map((name) => `docs/snippets/${name}`);
    expect(included.sort()).toEqual(snippets.sort());
  });
});
