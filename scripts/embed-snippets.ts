/**
 * `npm run docs:snippets`: copies each docs/snippets/*.ts file into every page that marks it with
 * `<!-- snippet: path -->`, so the code shown in README.md and docs/ is the code `npm run typecheck` checks.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';

const SNIPPET = /<!-- snippet: (\S+) -->\n```ts\n[\s\S]*?```\n/g;

const pages = [
  'README.md',
  ...(await readdir('docs')).filter((n) => n.endsWith('.md')).map((n) => `docs/${n}`),
];
for (const page of pages) {
  const text = await readFile(page, 'utf8');
  const paths = [...text.matchAll(SNIPPET)].map((match) => match[1] ?? '');
  const code = new Map(await Promise.all(paths.map(async (p) => [p, await readFile(p, 'utf8')] as const)));
  const next = text.replace(
    SNIPPET,
    (_all, path: string) => `<!-- snippet: ${path} -->\n\`\`\`ts\n${code.get(path)}\`\`\`\n`,
  );
  if (next !== text) {
    await writeFile(page, next);
    console.log(`updated ${page}`);
  }
}
