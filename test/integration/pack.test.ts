/**
 * The package as users get it: `npm pack` (which builds in `prepack`), installed into a fresh project
 * outside the repository, then used from ESM, from CommonJS (`require()` of ESM, Node >= 20.19) and from
 * strict TypeScript with `nodenext` and `bundler` resolution: the Watcher, `defineConfig`, a flag, the
 * OpenFeature provider, the dev server subpath and the CLI bin.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** npm without the parent's npm_* variables, which would point it back at the repository. */
const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_')));

/** The versions the repository tests with, so the fresh project resolves the same ones. */
async function devVersion(name: string): Promise<string> {
  const manifest = await readFile(join(REPO, 'node_modules', name, 'package.json'), 'utf8');
  return (JSON.parse(manifest) as { version: string }).version;
}

const USE = (load: string) => `${load}
async function main() {
  const server = await startDevServer({
    port: 0,
    seed: {
      'cfg/port': '8080',
      'cfg/name': '"svc"',
      'flags/beta': 'true',
      'of/new-ui': JSON.stringify({ state: 'ENABLED', variants: { on: true, off: false }, defaultVariant: 'on' }),
    },
  });
  const watcher = new Watcher({ address: server.address, env: {} });
  try {
    const config = defineConfig({ prefix: 'cfg/', schema: z.object({ port: z.number(), name: z.string() }), watcher });
    const value = await config.load();
    const flag = createFlag(watcher, 'flags/beta', { type: 'boolean', default: false });
    await flag.ready;
    const metrics = instrumentWatcher(watcher);
    const provider = new ConsulFlagProvider({ prefix: 'of/', address: server.address, env: {} });
    await OpenFeature.setProviderAndWait(provider);
    const newUi = await OpenFeature.getClient().getBooleanValue('new-ui', false);
    console.log(JSON.stringify({ value, flag: flag.value, newUi }));
    await OpenFeature.close();
    metrics.close();
    await config.close();
  } finally {
    await watcher.close();
    await server.close();
  }
}
main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
`;

const ESM = USE(`import { OpenFeature } from '@openfeature/server-sdk';
import { createFlag, defineConfig, Watcher } from 'consul-hotreload';
import { startDevServer } from 'consul-hotreload/devserver';
import { instrumentWatcher } from 'consul-hotreload/metrics';
import { ConsulFlagProvider } from 'consul-hotreload/openfeature';
import { z } from 'zod';`);

const CJS = USE(`const { OpenFeature } = require('@openfeature/server-sdk');
const { createFlag, defineConfig, Watcher } = require('consul-hotreload');
const { startDevServer } = require('consul-hotreload/devserver');
const { instrumentWatcher } = require('consul-hotreload/metrics');
const { ConsulFlagProvider } = require('consul-hotreload/openfeature');
const { z } = require('zod');`);

const TS = `import { type ChangeEvent, ConfigValidationError, createFlag, defineConfig, Watcher } from 'consul-hotreload';
import { type DevServer, startDevServer } from 'consul-hotreload/devserver';
import { ConsulFlagProvider } from 'consul-hotreload/openfeature';
import { z } from 'zod';

const schema = z.object({ port: z.number(), name: z.string().default('svc') });
export async function typed(server: DevServer): Promise<number> {
  const watcher = new Watcher({ address: server.address });
  const config = defineConfig({ prefix: 'cfg/', schema, watcher });
  const value: { port: number; name: string } = await config.load();
  const flag = createFlag(watcher, 'flags/beta', { type: 'boolean', default: false });
  const on: boolean = flag.value;
  const sub = watcher.watch('cfg/', { format: 'json', schema });
  sub.on('change', (event: ChangeEvent<{ port: number; name: string }>) => console.log(event.current.port));
  const provider = new ConsulFlagProvider({ prefix: 'of/' });
  void provider;
  void on;
  void (ConfigValidationError satisfies new (...args: never[]) => Error);
  return value.port;
}
export const start: typeof startDevServer = startDevServer;
`;

/** zod 3.25's `zod/v4` is the zod 4 API: schemas from it work as zod 4's do. */
const LOW_ZOD = `import { createRequire } from 'node:module';
import { createFlag, defineConfig, Watcher } from 'consul-hotreload';
import { startDevServer } from 'consul-hotreload/devserver';
import { z } from 'zod/v4';
const server = await startDevServer({ port: 0, seed: { 'cfg/port': '8080', 'cfg/name': 'svc', 'flags/n': '5' } });
const watcher = new Watcher({ address: server.address, env: {} });
const config = defineConfig({ prefix: 'cfg/', schema: z.object({ port: z.number(), name: z.string() }), watcher });
const flag = createFlag(watcher, 'flags/n', { type: 'number', default: 1, schema: z.number().max(10) });
const value = await config.load();
await flag.ready;
const zod = createRequire(import.meta.url)('zod/package.json').version;
console.log(JSON.stringify({ value, flag: flag.value, zod }));
await watcher.close();
await server.close();
`;

const EXPECTED = JSON.stringify({ value: { port: 8080, name: 'svc' }, flag: true, newUi: true });

describe('the packed package in a fresh project', () => {
  let app: string;
  let tarballPath: string;

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), 'consul-hotreload-pack-'));
    const packs = join(app, 'packs');
    await mkdir(packs);
    await run(NPM, ['pack', '--silent', '--pack-destination', packs], { cwd: REPO, env: cleanEnv });
    const [tarball] = await readdir(packs);
    tarballPath = join(packs, tarball!);
    const versions = await Promise.all(
      [
        'zod',
        '@openfeature/server-sdk',
        '@openfeature/flagd-core',
        '@openfeature/core',
        '@opentelemetry/api',
        'typescript',
        '@types/node',
      ].map(async (name) => `${name}@${await devVersion(name)}`),
    );
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true }));
    await run(
      NPM,
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        join(packs, tarball!),
        ...versions,
      ],
      { cwd: app, env: cleanEnv, timeout: 240_000 },
    );
  }, 300_000);

  afterAll(async () => {
    if (app !== undefined) await rm(app, { recursive: true, force: true });
  });

  it('works from ESM', async () => {
    await writeFile(join(app, 'esm.mjs'), ESM);
    const { stdout } = await run(process.execPath, ['esm.mjs'], { cwd: app, env: cleanEnv, timeout: 30_000 });
    expect(stdout.trim()).toBe(EXPECTED);
  });

  it('works from CommonJS through require()', async () => {
    await writeFile(join(app, 'cjs.cjs'), CJS);
    const { stdout } = await run(process.execPath, ['--no-warnings', 'cjs.cjs'], {
      cwd: app,
      env: cleanEnv,
      timeout: 30_000,
    });
    expect(stdout.trim()).toBe(EXPECTED);
  });

  it('type-checks in strict TypeScript with nodenext and with bundler resolution', async () => {
    await writeFile(join(app, 'app.ts'), TS);
    const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc');
    const common = ['--noEmit', '--strict', '--types', 'node', '--target', 'ES2022'];
    // The package's own declarations are checked once (nodenext); checking every library's twice is slow.
    for (const [module, resolution, skipLibCheck] of [
      ['nodenext', 'nodenext', 'false'],
      ['esnext', 'bundler', 'true'],
    ] as const) {
      const args = [
        tsc,
        ...common,
        '--skipLibCheck',
        skipLibCheck,
        '--module',
        module,
        '--moduleResolution',
        resolution,
        'app.ts',
      ];
      // nodenext reads the file as ESM only inside a "type": "module" package; the .ts here is ESM syntax.
      await writeFile(
        join(app, 'package.json'),
        JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }),
      );
      await expect(
        run(process.execPath, args, { cwd: app, env: cleanEnv, timeout: 60_000 }),
      ).resolves.toBeDefined();
    }
  }, 120_000);

  it('works with the lowest zod it supports, 3.25 through zod/v4', async () => {
    const low = join(app, 'zod-3.25');
    await mkdir(low);
    await writeFile(
      join(low, 'package.json'),
      JSON.stringify({ name: 'zod-low', private: true, type: 'module' }),
    );
    await run(
      NPM,
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        tarballPath,
        'zod@3.25.76',
      ],
      { cwd: low, env: cleanEnv, timeout: 240_000 },
    );
    await writeFile(join(low, 'low.mjs'), LOW_ZOD);
    const { stdout } = await run(process.execPath, ['low.mjs'], { cwd: low, env: cleanEnv, timeout: 30_000 });
    expect(stdout.trim()).toBe(
      JSON.stringify({ value: { port: 8080, name: 'svc' }, flag: 5, zod: '3.25.76' }),
    );
  }, 300_000);

  it('ships the CLI', async () => {
    const bin = join(app, 'node_modules', '.bin', 'consul-hotreload');
    const { stdout } = await run(bin, ['--help'], { cwd: app, env: cleanEnv, timeout: 30_000 });
    expect(stdout).toContain('consul-hotreload');
  });
});
