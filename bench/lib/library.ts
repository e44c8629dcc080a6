/**
 * Where a bench section loads consul-hotreload from: its compiled build, which is what an application
 * installed from npm runs, or its TypeScript source through tsx.
 *
 * The build is made here, by `tsc -p tsconfig.build.json` (the same compiler options as `npm run build`)
 * into a cache folder inside node_modules, so a fresh clone needs no step of its own and `dist/` is never
 * touched. Under tsx every function of the source is wrapped for `keepNames`, which the compiled package
 * does not have; the consul package the bench compares against is plain JavaScript either way.
 * @module
 */
import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type * as DevServerModule from '../../src/devserver/server.js';
import type * as WatcherModule from '../../src/watch/watcher.js';
import { REPO_ROOT } from './children.js';

/** `build`: the compiled package; `source`: src/ through tsx. */
export type LibrarySource = 'build' | 'source';

/** The parts of consul-hotreload a section drives. */
export interface LibraryUnderTest {
  readonly from: LibrarySource;
  /** How the bench output names it. */
  readonly description: string;
  readonly Watcher: typeof WatcherModule.Watcher;
  readonly startDevServer: typeof DevServerModule.startDevServer;
}

/** Where the build goes: inside the repository, so its imports resolve to the repository's node_modules. */
export const BUILD_DIR = path.join(REPO_ROOT, 'node_modules', '.cache', 'consul-hotreload-bench', 'dist');

let built: Promise<LibraryUnderTest> | undefined;

/** Loads the library from `from`; the build is compiled once per process. */
export function loadLibrary(from: LibrarySource): Promise<LibraryUnderTest> {
  if (from === 'source') return loadSource();
  built ??= compileAndLoad();
  return built;
}

async function loadSource(): Promise<LibraryUnderTest> {
  const [{ Watcher }, { startDevServer }] = await Promise.all([
    import('../../src/watch/watcher.js'),
    import('../../src/devserver/server.js'),
  ]);
  return {
    from: 'source',
    description: 'consul-hotreload from its TypeScript source through tsx',
    Watcher,
    startDevServer,
  };
}

async function compileAndLoad(): Promise<LibraryUnderTest> {
  await rm(BUILD_DIR, { recursive: true, force: true });
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  // Declarations and source maps do not change the JavaScript; leaving them out only saves time.
  await promisify(execFile)(
    process.execPath,
    [
      tsc,
      '-p',
      'tsconfig.build.json',
      '--outDir',
      BUILD_DIR,
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ],
    { cwd: REPO_ROOT },
  );
  // The output is ES modules whatever package.json is nearest when it runs.
  await writeFile(path.join(BUILD_DIR, 'package.json'), '{ "type": "module" }\n');
  const load = async <T>(file: string): Promise<T> =>
    (await import(pathToFileURL(path.join(BUILD_DIR, file)).href)) as T;
  const [{ Watcher }, { startDevServer }] = await Promise.all([
    load<typeof WatcherModule>('watch/watcher.js'),
    load<typeof DevServerModule>('devserver/server.js'),
  ]);
  const shown = path.relative(REPO_ROOT, BUILD_DIR);
  return {
    from: 'build',
    description: `consul-hotreload from its compiled build (tsc -p tsconfig.build.json into ${shown}), as installed from npm`,
    Watcher,
    startDevServer,
  };
}
