/**
 * The import rules of src/ (docs/architecture.md): imports flow one way (cli -> views -> watch -> consul ->
 * errors), views use only the engine's face, the main entry never loads the dev server, and there is no
 * import circle anywhere.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Every .ts file under src/, as a path relative to src/. */
function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

/** The src/ files a file imports (static and dynamic, type-only included), relative to src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const target = relative(SRC, resolve(SRC, dirname(file), match[1]!)).replace(/\.js$/, '.ts');
    found.push(target);
  }
  return found;
}

const graph = new Map(sourceFiles().map((file) => [file, importsOf(file)]));
const FACE = new Set(['watch/watcher.ts', 'watch/subscription.ts', 'watch/types.ts']);
const VIEWS = ['config/', 'flags/', 'openfeature/', 'metrics/', 'cli/', 'services/', 'locks/'];

describe('src/ imports', () => {
  it('has no import circle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, trail: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      for (const target of graph.get(file) ?? []) visit(target, [...trail, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('never imports a view from the engine, the client or the cache', () => {
    const upward = [...graph].flatMap(([file, targets]) =>
      /^(watch|consul|cache)\//.test(file)
        ? targets.filter((t) => VIEWS.some((view) => t.startsWith(view))).map((t) => `${file} -> ${t}`)
        : [],
    );
    expect(upward).toEqual([]);
  });

  it('lets views reach the engine only through its face', () => {
    const inside = [...graph].flatMap(([file, targets]) =>
      VIEWS.some((view) => file.startsWith(view))
        ? targets.filter((t) => t.startsWith('watch/') && !FACE.has(t)).map((t) => `${file} -> ${t}`)
        : [],
    );
    expect(inside).toEqual([]);
  });

  it('keeps the dev server out of the main entry and the dev server off the client', () => {
    const reached = new Set<string>();
    const walk = (file: string): void => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const target of graph.get(file) ?? []) walk(target);
    };
    walk('index.ts');
    expect([...reached].filter((file) => file.startsWith('devserver/'))).toEqual([]);
    const devToClient = [...graph].flatMap(([file, targets]) =>
      file.startsWith('devserver/') ? targets.filter((t) => /^(consul|watch)\//.test(t)) : [],
    );
    expect(devToClient).toEqual([]);
  });
});
