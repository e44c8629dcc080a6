/**
 * ConsulFlagProvider end to end: the OpenFeature server SDK, the provider, the real Watcher and the dev
 * server over loopback. Flag changes are written to the dev server's store and observed as SDK events. As in
 * flagd, a broken flag answers PARSE_ERROR (or keeps its last good definition) and never takes the other flags
 * of its document down with it.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Client, type EventDetails, OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type DevServer, startDevServer } from '../../src/devserver/server.js';
import { ConsulFlagProvider } from '../../src/openfeature/index.js';
import { Watcher } from '../../src/watch/watcher.js';

const boolFlag = (defaultVariant: 'on' | 'off', extra: Record<string, unknown> = {}) => ({
  state: 'ENABLED',
  variants: { on: true, off: false },
  defaultVariant,
  ...extra,
});

const SEED = {
  'flags/$evaluators': { staff: { ends_with: [{ var: 'email' }, '@example.com'] } },
  'flags/new-ui': boolFlag('off', { targeting: { if: [{ $ref: 'staff' }, 'on', null] } }),
  'flags/checkout-color': {
    state: 'ENABLED',
    variants: { red: 'red', blue: 'blue', green: 'green' },
    defaultVariant: 'red',
    targeting: {
      fractional: [
        ['red', 50],
        ['blue', 25],
        ['green', 25],
      ],
    },
  },
  'flags/max-items': { state: 'ENABLED', variants: { low: 10, high: 100 }, defaultVariant: 'high' },
};

const STAFF = { ends_with: [{ var: 'email' }, '@example.com'] };
const GOOD = boolFlag('off', { targeting: { if: [{ $ref: 'staff' }, 'on', null] } });
const BAD_RULE = boolFlag('on', { targeting: { no_such_operator: [1] } });
const BAD_REF = boolFlag('on', { targeting: { if: [{ $ref: 'staf' }, 'on', 'off'] } });
const FIXED_REF = boolFlag('on', { targeting: { if: [{ $ref: 'staff' }, 'off', 'on'] } });

/** Short waits and retries so recovery and staleness happen within a test, not within minutes. */
const FAST = { minInterval: 0, backoff: { min: 5, max: 20 }, staleAfter: 100 };

let server: DevServer | undefined;
let watcher: Watcher | undefined;
let handlers = new AbortController();

afterEach(async () => {
  handlers.abort();
  handlers = new AbortController();
  await OpenFeature.close();
  await OpenFeature.clearProviders();
  await watcher?.close();
  await server?.close();
  watcher = undefined;
  server = undefined;
});

/** Resolves with the details of the next `type` event the client sees. */
function nextEvent(client: Client, type: ProviderEvents): Promise<EventDetails | undefined> {
  return new Promise((resolve) => {
    const once = new AbortController();
    client.addHandler(
      type,
      (details?: EventDetails) => {
        once.abort();
        resolve(details);
      },
      { signal: AbortSignal.any([once.signal, handlers.signal]) },
    );
  });
}

/** Records every provider event the client sees, in order, as `type` plus `flagsChanged` or `message`. */
function recordEvents(client: Client): Array<Record<string, unknown>> {
  const events: Array<Record<string, unknown>> = [];
  for (const type of [ProviderEvents.Ready, ProviderEvents.Error, ProviderEvents.ConfigurationChanged]) {
    client.addHandler(
      type,
      (details?: EventDetails) => {
        const event: Record<string, unknown> = { type };
        if (Array.isArray(details?.flagsChanged)) event.flagsChanged = details.flagsChanged;
        else if (details?.message !== undefined) event.message = details.message;
        events.push(event);
      },
      { signal: handlers.signal },
    );
  }
  return events;
}

async function startWithPrefix(seed: Record<string, unknown> = SEED) {
  server = await startDevServer({ port: 0, seed });
  const provider = new ConsulFlagProvider({ prefix: 'flags/', address: server.address, ...FAST });
  await OpenFeature.setProviderAndWait(provider);
  return { server, client: OpenFeature.getClient() };
}

describe('ConsulFlagProvider against the dev server', () => {
  it('evaluates seeded flagd definitions through the SDK', async () => {
    const { client } = await startWithPrefix();
    expect(await client.getBooleanDetails('new-ui', false, { email: 'ana@example.com' })).toEqual({
      flagKey: 'new-ui',
      value: true,
      variant: 'on',
      reason: 'TARGETING_MATCH',
      flagMetadata: {},
    });
    expect(await client.getStringValue('checkout-color', 'none', { targetingKey: 'user-2' })).toBe('blue');
    expect(await client.getNumberValue('max-items', 0)).toBe(100);
    expect((await client.getBooleanDetails('missing', false)).errorCode).toBe('FLAG_NOT_FOUND');
  });

  it('emits ConfigurationChanged with exactly the changed flag when one key is written', async () => {
    const { server, client } = await startWithPrefix();
    const changed = nextEvent(client, ProviderEvents.ConfigurationChanged);
    server.kv.put('flags/max-items', JSON.stringify({ ...SEED['flags/max-items'], defaultVariant: 'low' }));
    expect((await changed)?.flagsChanged).toEqual(['max-items']);
    expect(await client.getNumberValue('max-items', 0)).toBe(10);
  });

  it('emits ConfigurationChanged for a deleted flag key and for flags whose shared evaluator changed', async () => {
    const { server, client } = await startWithPrefix();
    const deleted = nextEvent(client, ProviderEvents.ConfigurationChanged);
    server.kv.delete('flags/checkout-color');
    expect((await deleted)?.flagsChanged).toEqual(['checkout-color']);
    const evaluators = nextEvent(client, ProviderEvents.ConfigurationChanged);
    server.kv.put(
      'flags/$evaluators',
      JSON.stringify({ staff: { ends_with: [{ var: 'email' }, '@example.org'] } }),
    );
    expect((await evaluators)?.flagsChanged).toEqual(['new-ui']);
    expect(await client.getBooleanValue('new-ui', false, { email: 'ana@example.org' })).toBe(true);
  });

  it('emits Error for invalid JSON, keeps serving the old flags, and recovers with Ready', async () => {
    const { server, client } = await startWithPrefix();
    const error = nextEvent(client, ProviderEvents.Error);
    server.kv.put('flags/max-items', '{"state": ');
    expect((await error)?.message).toContain('flags/max-items');
    expect(client.providerStatus).toBe('ERROR');
    expect(await client.getNumberValue('max-items', 0)).toBe(100);

    const ready = nextEvent(client, ProviderEvents.Ready);
    const changed = nextEvent(client, ProviderEvents.ConfigurationChanged);
    server.kv.put('flags/max-items', JSON.stringify({ ...SEED['flags/max-items'], defaultVariant: 'low' }));
    await ready;
    expect((await changed)?.flagsChanged).toEqual(['max-items']);
    expect(client.providerStatus).toBe('READY');
    expect(await client.getNumberValue('max-items', 0)).toBe(10);
  });

  it('emits Error naming the key for a definition flagd refuses, and keeps the old definition', async () => {
    const { server, client } = await startWithPrefix();
    const error = nextEvent(client, ProviderEvents.Error);
    server.kv.put(
      'flags/new-ui',
      JSON.stringify({ state: 'ON', variants: { on: true }, defaultVariant: 'on' }),
    );
    expect((await error)?.message).toBe(
      'invalid config under flags/: 1 problem; the last good value keeps serving\n' +
        '  - flags/new-ui: Invalid flag state: "ON"',
    );
    expect(await client.getBooleanValue('new-ui', true, { email: 'bo@elsewhere.org' })).toBe(false);
  });

  it('rejects setProviderAndWait for invalid definitions at startup', async () => {
    server = await startDevServer({
      port: 0,
      seed: {
        'flags.json': JSON.stringify({
          flags: { a: { state: 'ENABLED', variants: {}, defaultVariant: 'x' } },
        }),
      },
    });
    const provider = new ConsulFlagProvider({ key: 'flags.json', address: server.address, ...FAST });
    await expect(OpenFeature.setProviderAndWait(provider)).rejects.toMatchObject({
      code: 'CONSUL_CONFIG_VALIDATION',
      issues: [
        { key: 'flags.json', path: ['flags', 'a'], message: 'Default variant x missing from variants {}' },
      ],
    });
  });

  it('goes Stale while Consul fails for longer than staleAfter, and Ready when it answers again', async () => {
    const { server, client } = await startWithPrefix();
    const stale = nextEvent(client, ProviderEvents.Stale);
    server.faults.inject({
      fault: { kind: 'status', status: 500, body: 'boom' },
      times: Number.POSITIVE_INFINITY,
    });
    // Wake the blocking query so the next request meets the fault.
    server.kv.put('flags/unrelated/', '');
    await stale;
    expect(client.providerStatus).toBe('STALE');
    expect(await client.getNumberValue('max-items', 0)).toBe(100);
    const ready = nextEvent(client, ProviderEvents.Ready);
    server.faults.clear();
    await ready;
    expect(client.providerStatus).toBe('READY');
  });

  it('closes the watcher it made when OpenFeature closes: Consul is left holding no query and no connection', async () => {
    const { server } = await startWithPrefix();
    // After the first (non-blocking) read, the watcher parks a blocking query on the server.
    await vi.waitFor(() => expect(server.stats().blockingHeld).toBe(1));
    await OpenFeature.close();
    // The server notices the aborted request when its socket closes, a moment after close() resolves.
    await vi.waitFor(() => expect(server.stats()).toMatchObject({ blockingHeld: 0, connections: 0 }));
  });

  it('reads one key holding a whole flagd document through a shared watcher, and leaves it open on close', async () => {
    server = await startDevServer({
      port: 0,
      seed: { 'config/flags.json': { flags: { 'max-items': SEED['flags/max-items'] } } },
    });
    watcher = new Watcher({ address: server.address, ...FAST });
    await OpenFeature.setProviderAndWait(new ConsulFlagProvider({ key: 'config/flags.json', watcher }));
    expect(await OpenFeature.getClient().getNumberValue('max-items', 0)).toBe(100);
    await OpenFeature.close();
    expect(watcher.closed).toBe(false);
    expect(watcher.stats().subscriptions).toBe(0);
  });
});

/**
 * The two storage layouts on the dev server: how flags are seeded, how one flag is rewritten (the whole
 * document, or that flag's key), and how a flag is named in messages.
 */
const LAYOUTS = [
  {
    layout: 'one key holding the document',
    source: { key: 'config/flags.json' },
    seed: (flags: Record<string, unknown>) => ({
      'config/flags.json': { $evaluators: { staff: STAFF }, flags },
    }),
    write: (dev: DevServer, flags: Record<string, unknown>, _changed: string) =>
      dev.kv.put('config/flags.json', JSON.stringify({ $evaluators: { staff: STAFF }, flags })),
    at: (flag: string) => `config/flags.json at flags.${flag}`,
  },
  {
    layout: 'one key per flag',
    source: { prefix: 'flags/' },
    seed: (flags: Record<string, unknown>) => ({
      'flags/$evaluators': { staff: STAFF },
      ...Object.fromEntries(Object.entries(flags).map(([name, flag]) => [`flags/${name}`, flag])),
    }),
    write: (dev: DevServer, flags: Record<string, unknown>, changed: string) =>
      dev.kv.put(`flags/${changed}`, JSON.stringify(flags[changed])),
    at: (flag: string) => `flags/${flag}`,
  },
];

describe.each(LAYOUTS)('ConsulFlagProvider with broken flags, $layout', ({ source, seed, write, at }) => {
  async function start(flags: Record<string, unknown>) {
    server = await startDevServer({ port: 0, seed: seed(flags) });
    const client = OpenFeature.getClient();
    const events = recordEvents(client);
    await OpenFeature.setProviderAndWait(
      new ConsulFlagProvider({ ...source, address: server.address, ...FAST }),
    );
    return { server, client, events };
  }

  it('initializes, evaluates the good flag with its targeting, answers PARSE_ERROR for the broken ones, and reports a fix by its key', async () => {
    const { server, client, events } = await start({
      'new-ui': GOOD,
      'bad-rule': BAD_RULE,
      'bad-ref': BAD_REF,
    });
    expect(client.providerStatus).toBe('READY');
    expect(await client.getBooleanDetails('new-ui', false, { email: 'ana@example.com' })).toEqual({
      flagKey: 'new-ui',
      value: true,
      variant: 'on',
      reason: 'TARGETING_MATCH',
      flagMetadata: {},
    });
    expect(await client.getBooleanDetails('bad-rule', false)).toEqual({
      flagKey: 'bad-rule',
      value: false,
      reason: 'ERROR',
      errorCode: 'PARSE_ERROR',
      errorMessage: `${at('bad-rule')}: Invalid targeting configuration for flag 'bad-rule'`,
      flagMetadata: {},
    });
    expect(await client.getBooleanDetails('bad-ref', false)).toMatchObject({
      value: false,
      errorCode: 'PARSE_ERROR',
      errorMessage: `${at('bad-ref')}: targeting refers to evaluator "staf", which $evaluators does not define`,
    });

    const changed = nextEvent(client, ProviderEvents.ConfigurationChanged);
    write(server, { 'new-ui': GOOD, 'bad-rule': BAD_RULE, 'bad-ref': FIXED_REF }, 'bad-ref');
    expect((await changed)?.flagsChanged).toEqual(['bad-ref']);
    expect(await client.getBooleanValue('bad-ref', true, { email: 'ana@example.com' })).toBe(false);
    expect(events).toEqual([
      { type: ProviderEvents.Ready },
      { type: ProviderEvents.ConfigurationChanged, flagsChanged: ['bad-ref'] },
    ]);
  });

  it('keeps the last good definition of a flag that breaks, with an Error naming the flag and its key', async () => {
    const { server, client } = await start({ 'new-ui': GOOD });
    const error = nextEvent(client, ProviderEvents.Error);
    write(server, { 'new-ui': BAD_REF }, 'new-ui');
    expect((await error)?.message).toContain(
      `  - ${at('new-ui')}: targeting refers to evaluator "staf", which $evaluators does not define`,
    );
    expect(client.providerStatus).toBe('ERROR');
    expect(await client.getBooleanValue('new-ui', false, { email: 'ana@example.com' })).toBe(true);
  });

  it('rejects setProviderAndWait when every flag is broken', async () => {
    server = await startDevServer({ port: 0, seed: seed({ 'bad-rule': BAD_RULE, 'bad-ref': BAD_REF }) });
    const provider = new ConsulFlagProvider({ ...source, address: server.address, ...FAST });
    await expect(OpenFeature.setProviderAndWait(provider)).rejects.toMatchObject({
      code: 'CONSUL_CONFIG_VALIDATION',
      message: expect.stringContaining(`  - ${at('bad-ref')}: targeting refers to evaluator "staf"`),
    });
  });
});

describe('examples/openfeature/main.ts', () => {
  it('evaluates, shows the ConfigurationChanged event and exits on its own', async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    // No process.exit in the example: it exits only if the provider closed every socket and timer.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'examples/openfeature/main.ts'],
      {
        cwd: root,
        timeout: 15_000,
      },
    );
    expect(stdout.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT')).toBe(
      [
        'dev server at http://127.0.0.1:PORT',
        'before ana: new-ui=true (TARGETING_MATCH), checkout-color=red (TARGETING_MATCH)',
        'before bo: new-ui=false (DEFAULT), checkout-color=blue (TARGETING_MATCH)',
        'max-items=100',
        'ConfigurationChanged: flagsChanged=["new-ui"]',
        'after ana: new-ui=true (TARGETING_MATCH), checkout-color=red (TARGETING_MATCH)',
        'after bo: new-ui=true (DEFAULT), checkout-color=blue (TARGETING_MATCH)',
        '',
      ].join('\n'),
    );
  });
});
