/**
 * `npm run bench` — consul-hotreload next to the `consul` npm package's watch, on the embedded dev server.
 *
 * Usage: `npm run bench [-- --smoke] [-- --only latency,cpu] [-- --source]`. `--source` runs the latency
 * section on the TypeScript source (through tsx) rather than the compiled build. Results are recorded in
 * docs/benchmarks.md.
 * @module
 */
import type { SectionId } from './lib/report.js';
import { run, SECTIONS } from './run.js';

function parseOnly(args: readonly string[]): SectionId[] | undefined {
  const at = args.indexOf('--only');
  if (at < 0) return undefined;
  const ids = (args[at + 1] ?? '').split(',').filter((id) => id !== '');
  const known = new Set<string>(SECTIONS.map((section) => section.id));
  for (const id of ids) {
    if (!known.has(id)) throw new Error(`bench: unknown section ${id}; known: ${[...known].join(', ')}`);
  }
  return ids as SectionId[];
}

const args = process.argv.slice(2);
const only = parseOnly(args);
await run({
  scale: args.includes('--smoke') ? 'smoke' : 'full',
  ...(only ? { only } : {}),
  ...(args.includes('--source') ? { library: 'source' as const } : {}),
});
