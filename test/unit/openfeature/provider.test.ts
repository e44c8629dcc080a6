import { FlagdCore } from '@openfeature/flagd-core';
import { type Client, type EventDetails, OpenFeature, ProviderEvents } from '@openfeature/server-sdk';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigValidationError, InvalidArgumentError } from '../../../src/errors.js';
import { ConsulFlagProvider } from '../../../src/openfeature/provider.js';
import { FakeWatcher } from './fake-watcher.js';

// The provider makes its own Watcher when none is given; this stand-in records how.
const madeWatchers = vi.hoisted(() => [] as Array<{ options: Record<string, unknown>; fake: unknown }>);
vi.mock('../../../src/watch/watcher.js', async () => {
  const { FakeWatcher: Fake } = await import('./fake-watcher.js');
  return {
    Watcher: class {
      constructor(options: Record<string, unknown>) {
        const fake = new Fake();
        madeWatchers.push({ options, fake });
        // biome-ignore lint/correctness/noConstructorReturn: the stand-in is the fake itself.
        return fake;
      }
    },
  };
});

const boolFlag = (defaultVariant: 'on' | 'off', extra: Record<string, unknown> = {}) => ({
  state: 'ENABLED',
  variants: { on: true, off: false },
  defaultVariant,
  ...extra,
});

/** A flagd document covering each rule kind, as one Consul key would hold it. */
const DOCUMENT = {
  $evaluators: { staff: { ends_with: [{ var: 'email' }, '@example.com'] } },
  flags: {
    'new-ui': boolFlag('off', { targeting: { if: [{ $ref: 'staff' }, 'on', null] } }),
    'beta-api': boolFlag('off', {
      targeting: { if: [{ starts_with: [{ var: 'region' }, 'eu-'] }, 'on', 'off'] },
    }),
    'fast-path': boolFlag('off', {
      targeting: { if: [{ sem_ver: [{ var: 'version' }, '>=', '2.1.0'] }, 'on', 'off'] },
    }),
    'checkout-color': {
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
    'max-items': { state: 'ENABLED', variants: { low: 10, high: 100 }, defaultVariant: 'high' },
    banner: {
      state: 'ENABLED',
      variants: { plain: { text: 'hi', dismissible: true } },
      defaultVariant: 'plain',
    },
    legacy: { state: 'DISABLED', variants: { on: true, off: false }, defaultVariant: 'on' },
    greeting: { state: 'ENABLED', variants: { hello: 'hello' }, defaultVariant: 'hello' },
  },
};

const KEY = 'config/flags.json';
const json = (value: unknown) => JSON.stringify(value);

interface Recorded {
  type: string;
  flagsChanged?: string[] | undefined;
  message?: string | undefined;
}

/** Aborted after each test to remove the handlers it added to the (shared) default-domain client. */
let handlers = new AbortController();

/** Records every provider event the client sees, in order, in a compact form. */
function recordEvents(client: Client): Recorded[] {
  const events: Recorded[] = [];
  const types = [
    ProviderEvents.Ready,
    ProviderEvents.Error,
    ProviderEvents.Stale,
    ProviderEvents.ConfigurationChanged,
  ] as const;
  for (const type of types) {
    client.addHandler(
      type,
      (details?: EventDetails) => {
        const event: Recorded = { type };
        if (Array.isArray(details?.flagsChanged)) event.flagsChanged = details.flagsChanged;
        if (details?.message !== undefined) event.message = details.message;
        events.push(event);
      },
      { signal: handlers.signal },
    );
  }
  return events;
}

/** Sets a provider over a fake watcher holding `entries` and waits for it; returns what the tests drive. */
async function start(source: { key: string } | { prefix: string }, entries: Record<string, string>) {
  const watcher = new FakeWatcher();
  const provider = new ConsulFlagProvider({ ...source, watcher: watcher.asWatcher() });
  const client = OpenFeature.getClient();
  const events = recordEvents(client);
  const ready = OpenFeature.setProviderAndWait(provider);
  watcher.last.load(entries);
  await ready;
  return { watcher, provider, client, events, sub: watcher.last };
}

afterEach(async () => {
  handlers.abort();
  handlers = new AbortController();
  await OpenFeature.close();
  await OpenFeature.clearProviders();
  OpenFeature.clearHandlers();
  madeWatchers.length = 0;
});

describe('ConsulFlagProvider evaluation (flagd rules through the OpenFeature SDK)', () => {
  it('answers a flag without targeting with its default variant and reason STATIC', async () => {
    const { client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    expect(await client.getStringDetails('greeting', 'none')).toEqual({
      flagKey: 'greeting',
      value: 'hello',
      variant: 'hello',
      reason: 'STATIC',
      flagMetadata: {},
    });
  });

  it('matches targeting that uses a shared $evaluators rule, else falls back to the default variant', async () => {
    const { client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    const staff = await client.getBooleanDetails('new-ui', false, { email: 'ana@example.com' });
    expect(staff).toEqual({
      flagKey: 'new-ui',
      value: true,
      variant: 'on',
      reason: 'TARGETING_MATCH',
      flagMetadata: {},
    });
    const other = await client.getBooleanDetails('new-ui', false, { email: 'bo@elsewhere.org' });
    expect(other).toEqual({
      flagKey: 'new-ui',
      value: false,
      variant: 'off',
      reason: 'DEFAULT',
      flagMetadata: {},
    });
  });

  it('evaluates starts_with and sem_ver rules', async () => {
    const { client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    expect(await client.getBooleanValue('beta-api', false, { region: 'eu-west-1' })).toBe(true);
    expect(await client.getBooleanValue('beta-api', true, { region: 'us-east-1' })).toBe(false);
    expect(await client.getBooleanValue('fast-path', false, { version: '2.1.0' })).toBe(true);
    expect(await client.getBooleanValue('fast-path', false, { version: 'v2.10.3' })).toBe(true);
    expect(await client.getBooleanValue('fast-path', true, { version: '2.0.9' })).toBe(false);
  });

  it('buckets fractional rollouts deterministically by flag key and targetingKey', async () => {
    const { client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    const variantOf = async (targetingKey: string) =>
      (await client.getStringDetails('checkout-color', 'none', { targetingKey })).variant;
    expect(
      await Promise.all(['user-1', 'user-2', 'user-3', 'user-4', 'alice', 'bob'].map(variantOf)),
    ).toEqual(['red', 'blue', 'red', 'blue', 'red', 'green']);
    // flagd buckets by murmur3(flagKey + targetingKey), the same in every flagd implementation, so these
    // exact answers are stable; 1,000 keys split close to the 50/25/25 weights.
    const counts: Record<string, number> = {};
    for (let i = 0; i < 1000; i++) {
      const variant = (await variantOf(`user-${i}`)) ?? 'none';
      counts[variant] = (counts[variant] ?? 0) + 1;
    }
    expect(counts).toEqual({ red: 499, blue: 257, green: 244 });
    expect(await client.getStringDetails('checkout-color', 'none', { targetingKey: 'user-2' })).toEqual({
      flagKey: 'checkout-color',
      value: 'blue',
      variant: 'blue',
      reason: 'TARGETING_MATCH',
      flagMetadata: {},
    });
  });

  it('falls back to the default variant when a fractional rule has no targetingKey', async () => {
    const { client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    expect(await client.getStringDetails('checkout-color', 'none')).toEqual({
      flagKey: 'checkout-color',
      value: 'red',
      variant: 'red',
      reason: 'DEFAULT',
      flagMetadata: {},
    });
  });

  it('answers number and object flags', async () => {
    const { client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    expect(await client.getNumberValue('max-items', 0)).toBe(100);
    expect(await client.getObjectValue('banner', {})).toEqual({ text: 'hi', dismissible: true });
  });

  it('returns the caller default with reason DISABLED for a disabled flag', async () => {
    const { client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    expect(await client.getBooleanDetails('legacy', false)).toEqual({
      flagKey: 'legacy',
      value: false,
      reason: 'DISABLED',
      flagMetadata: {},
    });
  });

  it('reports TYPE_MISMATCH with the caller default when the variant has another type', async () => {
    const { client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    expect(await client.getNumberDetails('greeting', 7)).toEqual({
      flagKey: 'greeting',
      value: 7,
      reason: 'ERROR',
      errorCode: 'TYPE_MISMATCH',
      errorMessage: 'Evaluated type of the flag greeting does not match. Expected number, got string',
      flagMetadata: {},
    });
  });

  it('reports FLAG_NOT_FOUND with the caller default for an unknown flag', async () => {
    const { client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    expect(await client.getBooleanDetails('nope', true)).toEqual({
      flagKey: 'nope',
      value: true,
      reason: 'ERROR',
      errorCode: 'FLAG_NOT_FOUND',
      errorMessage: "flag 'nope' not found",
      flagMetadata: {},
    });
  });

  it('starts with no flags when the key does not exist yet, and loads them when it appears', async () => {
    const { client, sub, events } = await start({ key: KEY }, {});
    expect((await client.getBooleanDetails('new-ui', true)).errorCode).toBe('FLAG_NOT_FOUND');
    sub.load({ [KEY]: json({ flags: { 'new-ui': boolFlag('on') } }) });
    expect(await client.getBooleanValue('new-ui', false)).toBe(true);
    expect(events).toEqual([
      { type: ProviderEvents.Ready },
      { type: ProviderEvents.ConfigurationChanged, flagsChanged: ['new-ui'] },
    ]);
  });
});

describe('ConsulFlagProvider with a prefix (one key per flag)', () => {
  const PREFIX = 'flags/';
  const ENTRIES = {
    'flags/': '', // a folder key, as the Consul UI creates it
    'flags/$evaluators': json({ staff: { ends_with: [{ var: 'email' }, '@example.com'] } }),
    'flags/new-ui': json(boolFlag('off', { targeting: { if: [{ $ref: 'staff' }, 'on', null] } })),
    'flags/team/checkout': json(boolFlag('on')),
    'flags/draft': '',
  };

  it('takes the key name after the prefix as the flag key, nested paths included', async () => {
    const { client, provider } = await start({ prefix: PREFIX }, ENTRIES);
    expect(await client.getBooleanValue('new-ui', false, { email: 'ana@example.com' })).toBe(true);
    expect(await client.getBooleanValue('new-ui', true, { email: 'bo@elsewhere.org' })).toBe(false);
    expect(await client.getBooleanDetails('team/checkout', false)).toEqual({
      flagKey: 'team/checkout',
      value: true,
      variant: 'on',
      reason: 'STATIC',
      flagMetadata: {},
    });
    // An empty value defines nothing.
    expect((await provider.resolveBooleanEvaluation('draft', false, {}, console)).errorCode).toBe(
      'FLAG_NOT_FOUND',
    );
  });

  it('emits ConfigurationChanged for a flag whose key is deleted', async () => {
    const { client, sub, events } = await start({ prefix: PREFIX }, ENTRIES);
    const { 'flags/team/checkout': _removed, ...rest } = ENTRIES;
    sub.load(rest);
    expect((await client.getBooleanDetails('team/checkout', false)).errorCode).toBe('FLAG_NOT_FOUND');
    expect(events).toEqual([
      { type: ProviderEvents.Ready },
      { type: ProviderEvents.ConfigurationChanged, flagsChanged: ['team/checkout'] },
    ]);
  });

  it('refuses at startup, when no flag loads, every bad flag at once, each named by its Consul key', async () => {
    const watcher = new FakeWatcher();
    const provider = new ConsulFlagProvider({ prefix: PREFIX, watcher: watcher.asWatcher() });
    const ready = OpenFeature.setProviderAndWait(provider);
    watcher.last.load({
      'flags/bad-state': json({ state: 'ON', variants: { on: true }, defaultVariant: 'on' }),
      'flags/bad-default': json({ state: 'ENABLED', variants: { on: true }, defaultVariant: 'maybe' }),
      'flags/not-an-object': json(true),
      'flags/$evaluator': json({}),
    });
    const error = await ready.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).issues).toEqual([
      {
        key: 'flags/$evaluator',
        path: [],
        message: 'unknown reserved key "$evaluator"; the only one is "$evaluators"',
      },
      { key: 'flags/bad-default', path: [], message: 'Default variant maybe missing from variants {}' },
      { key: 'flags/bad-state', path: [], message: 'Invalid flag state: "ON"' },
      {
        key: 'flags/not-an-object',
        path: [],
        message: 'expected a flag definition object (state, variants, defaultVariant)',
      },
    ]);
  });

  it('lists every flag flagd-core refuses, bad targeting included, not only the first', async () => {
    const watcher = new FakeWatcher();
    const provider = new ConsulFlagProvider({ prefix: PREFIX, watcher: watcher.asWatcher() });
    const ready = OpenFeature.setProviderAndWait(provider);
    watcher.last.load({
      'flags/bad-state': json({ state: 'ON', variants: { on: true }, defaultVariant: 'on' }),
      'flags/bad-rule': json(boolFlag('on', { targeting: { no_such_operator: [1] } })),
    });
    await expect(ready).rejects.toThrow(ConfigValidationError);
    await expect(ready).rejects.toMatchObject({
      code: 'CONSUL_CONFIG_VALIDATION',
      key: PREFIX,
      issues: [
        { key: 'flags/bad-rule', path: [], message: "Invalid targeting configuration for flag 'bad-rule'" },
        { key: 'flags/bad-state', path: [], message: 'Invalid flag state: "ON"' },
      ],
    });
  });
});

describe('ConsulFlagProvider events', () => {
  it('emits ConfigurationChanged with exactly the keys of changed, added and removed flags', async () => {
    const { sub, events } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    const { greeting: _removed, ...flags } = DOCUMENT.flags;
    const next = {
      ...DOCUMENT,
      flags: {
        ...flags,
        'max-items': { ...flags['max-items'], defaultVariant: 'low' },
        added: boolFlag('on'),
      },
    };
    sub.load({ [KEY]: json(next) });
    expect(events).toEqual([
      { type: ProviderEvents.Ready },
      { type: ProviderEvents.ConfigurationChanged, flagsChanged: ['added', 'greeting', 'max-items'] },
    ]);
    // The same keys flagd-core's own setConfigurations reports for this transition.
    const core = new FlagdCore();
    core.setConfigurations(json(DOCUMENT));
    expect(core.setConfigurations(json(next)).sort()).toEqual(['added', 'greeting', 'max-items']);
  });

  it('counts a flag as changed when a shared evaluator it references changes', async () => {
    const { sub, events, client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    sub.load({
      [KEY]: json({ ...DOCUMENT, $evaluators: { staff: { ends_with: [{ var: 'email' }, '@example.org'] } } }),
    });
    expect(events.at(-1)).toEqual({ type: ProviderEvents.ConfigurationChanged, flagsChanged: ['new-ui'] });
    expect(await client.getBooleanValue('new-ui', false, { email: 'ana@example.org' })).toBe(true);
  });

  it('emits nothing when the value changes but no flag definition does', async () => {
    const { sub, events } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    sub.load({ [KEY]: JSON.stringify(DOCUMENT, null, 2) });
    expect(events).toEqual([{ type: ProviderEvents.Ready }]);
  });

  it('Requirement 5.3.5: emits Error for invalid JSON and keeps serving the previous flags, then Ready on recovery', async () => {
    const { sub, events, client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    sub.load({ [KEY]: '{"flags": {' });
    expect(client.providerStatus).toBe('ERROR');
    expect(await client.getNumberValue('max-items', 0)).toBe(100);
    const fixed = {
      ...DOCUMENT,
      flags: { ...DOCUMENT.flags, 'max-items': { ...DOCUMENT.flags['max-items'], defaultVariant: 'low' } },
    };
    sub.load({ [KEY]: json(fixed) });
    expect(client.providerStatus).toBe('READY');
    expect(await client.getNumberValue('max-items', 0)).toBe(10);
    expect(events).toEqual([
      { type: ProviderEvents.Ready },
      { type: ProviderEvents.Error, message: expect.stringContaining(`${KEY}:`) },
      { type: ProviderEvents.Ready },
      { type: ProviderEvents.ConfigurationChanged, flagsChanged: ['max-items'] },
    ]);
  });

  it('emits Error naming the Consul key and flag for a definition flagd refuses, and keeps the old flags', async () => {
    const { sub, events, client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    sub.load({
      [KEY]: json({
        ...DOCUMENT,
        flags: {
          ...DOCUMENT.flags,
          'max-items': { state: 'ENABLED', variants: { low: 10 }, defaultVariant: 'nil' },
        },
      }),
    });
    expect(events).toEqual([
      { type: ProviderEvents.Ready },
      {
        type: ProviderEvents.Error,
        message:
          'invalid config under config/flags.json: 1 problem; the last good value keeps serving\n' +
          '  - config/flags.json at flags.max-items: Default variant nil missing from variants {}',
      },
    ]);
    expect(await client.getNumberDetails('max-items', 0)).toMatchObject({ value: 100, variant: 'high' });
  });

  it('keeps the last good rule of a flag whose targeting stops compiling, instead of answering PARSE_ERROR for it', async () => {
    const { sub, events, client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    sub.load({
      [KEY]: json({
        ...DOCUMENT,
        flags: { ...DOCUMENT.flags, 'new-ui': boolFlag('on', { targeting: { nope: [1] } }) },
      }),
    });
    expect(events.at(-1)).toEqual({
      type: ProviderEvents.Error,
      message:
        'invalid config under config/flags.json: 1 problem; the last good value keeps serving\n' +
        "  - config/flags.json at flags.new-ui: Invalid targeting configuration for flag 'new-ui'",
    });
    expect(await client.getBooleanValue('new-ui', false, { email: 'ana@example.com' })).toBe(true);
  });

  it('refuses a value that is not a flagd document', async () => {
    const { sub, events } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    sub.load({ [KEY]: json([1, 2]) });
    sub.load({ [KEY]: json({ flag: {} }) });
    expect(events.slice(1)).toEqual([
      {
        type: ProviderEvents.Error,
        message:
          'invalid config under config/flags.json: 1 problem; the last good value keeps serving\n' +
          '  - config/flags.json: expected a flagd document: an object with a "flags" object (found array)',
      },
      {
        type: ProviderEvents.Error,
        message:
          'invalid config under config/flags.json: 1 problem; the last good value keeps serving\n' +
          '  - config/flags.json: expected a flagd document: an object with a "flags" object (found "flags": undefined)',
      },
    ]);
  });

  it('keeps a flag named __proto__ as a flag', async () => {
    const { client } = await start(
      { key: KEY },
      {
        [KEY]:
          '{"flags": {"__proto__": {"state": "ENABLED", "variants": {"on": true}, "defaultVariant": "on"}}}',
      },
    );
    expect(await client.getBooleanValue('__proto__', false)).toBe(true);
  });

  it('Requirement 5.3.5: emits Stale when the subscription goes stale and Ready when it recovers, and the status follows', async () => {
    const { sub, events, client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    sub.setState('stale');
    expect(client.providerStatus).toBe('STALE');
    expect(await client.getNumberValue('max-items', 0)).toBe(100);
    sub.setState('ready');
    expect(client.providerStatus).toBe('READY');
    expect(events).toEqual([
      { type: ProviderEvents.Ready },
      { type: ProviderEvents.Stale },
      { type: ProviderEvents.Ready },
    ]);
  });

  it('keeps the ERROR status while stale, and returns to STALE when good definitions arrive', async () => {
    const { sub, events, client } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    sub.load({ [KEY]: 'not json' });
    sub.setState('stale');
    expect(client.providerStatus).toBe('ERROR');
    sub.load({ [KEY]: json(DOCUMENT) });
    expect(client.providerStatus).toBe('STALE');
    sub.setState('ready');
    expect(events.map((event) => event.type)).toEqual([
      ProviderEvents.Ready,
      ProviderEvents.Error,
      ProviderEvents.Stale,
      ProviderEvents.Ready,
    ]);
  });
});

describe('ConsulFlagProvider lifecycle', () => {
  it('rejects initialization with the watcher error for invalid JSON at startup, and recovers later', async () => {
    const watcher = new FakeWatcher();
    const provider = new ConsulFlagProvider({ key: KEY, watcher: watcher.asWatcher() });
    const client = OpenFeature.getClient();
    const events = recordEvents(client);
    const ready = OpenFeature.setProviderAndWait(provider);
    watcher.last.load({ [KEY]: '{' });
    await expect(ready).rejects.toMatchObject({ code: 'CONSUL_CONFIG_VALIDATION', issues: [{ key: KEY }] });
    expect(client.providerStatus).toBe('ERROR');
    watcher.last.load({ [KEY]: json(DOCUMENT) });
    expect(client.providerStatus).toBe('READY');
    expect(await client.getNumberValue('max-items', 0)).toBe(100);
    expect(events.map((event) => event.type)).toEqual([
      ProviderEvents.Error,
      ProviderEvents.Ready,
      ProviderEvents.ConfigurationChanged,
    ]);
  });

  it("subscribes with format 'json', and leaves a shared watcher open on close", async () => {
    const { watcher, sub } = await start({ key: KEY }, { [KEY]: json(DOCUMENT) });
    expect(watcher.subscriptions.map((s) => [s.key, s.format])).toEqual([[KEY, 'json']]);
    await OpenFeature.close();
    expect(sub.state).toBe('closed');
    expect(sub.listenerCount('change')).toBe(0);
    expect(watcher.closed).toBe(0);
  });

  it('makes a watcher from the watcher options when none is given, and closes it once on close', async () => {
    const provider = new ConsulFlagProvider({
      prefix: 'flags/',
      address: 'http://127.0.0.1:1',
      token: 't0ken',
    });
    expect(madeWatchers.map((made) => made.options)).toEqual([
      { address: 'http://127.0.0.1:1', token: 't0ken', logger: undefined },
    ]);
    const fake = madeWatchers[0]?.fake as FakeWatcher;
    const ready = OpenFeature.setProviderAndWait(provider);
    fake.last.load({ 'flags/a': json(boolFlag('on')) });
    await ready;
    await Promise.all([provider.onClose(), provider.onClose()]);
    expect(fake.closed).toBe(1);
    expect(fake.last.state).toBe('closed');
  });

  it('rejects initialize after close', async () => {
    const provider = new ConsulFlagProvider({ key: KEY, watcher: new FakeWatcher().asWatcher() });
    await provider.onClose();
    await expect(provider.initialize()).rejects.toMatchObject({ code: 'CONSUL_CLOSED' });
  });

  it('Requirement 2.1.1: describes itself by name, as a server provider', () => {
    const provider = new ConsulFlagProvider({ key: KEY, watcher: new FakeWatcher().asWatcher() });
    expect(provider.metadata).toEqual({ name: 'consul-hotreload' });
    expect(provider.runsOn).toBe('server');
  });

  it('throws InvalidArgumentError at construction for a bad source or mixed watcher options', () => {
    const watcher = new FakeWatcher().asWatcher();
    const attempts = [
      () => new ConsulFlagProvider({ watcher } as never),
      () => new ConsulFlagProvider({ key: KEY, prefix: 'flags/', watcher } as never),
      () => new ConsulFlagProvider({ prefix: 'flags', watcher }),
      () => new ConsulFlagProvider({ key: KEY, watcher, address: 'http://127.0.0.1:8500' }),
    ];
    const messages = attempts.map((attempt) => {
      try {
        attempt();
        return 'no error';
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidArgumentError);
        return (error as Error).message;
      }
    });
    expect(messages).toEqual([
      'ConsulFlagProvider: give exactly one of "key" or "prefix"',
      'ConsulFlagProvider: give exactly one of "key" or "prefix"',
      'ConsulFlagProvider: prefix "flags" must end with "/"',
      'ConsulFlagProvider: watcher options (address) cannot be combined with "watcher"; set them on that watcher',
    ]);
  });
});

describe('ConsulFlagProvider per-flag errors (flagd keeps the document, the broken flag answers PARSE_ERROR)', () => {
  const staff = { ends_with: [{ var: 'email' }, '@example.com'] };
  const GOOD = boolFlag('off', { targeting: { if: [{ $ref: 'staff' }, 'on', null] } });
  const BAD_RULE = boolFlag('on', { targeting: { no_such_operator: [1] } });
  const BAD_REF = boolFlag('on', { targeting: { if: [{ $ref: 'staf' }, 'on', 'off'] } });
  const FIXED_REF = boolFlag('on', { targeting: { if: [{ $ref: 'staff' }, 'off', 'on'] } });
  const MAX_ITEMS = { state: 'ENABLED', variants: { low: 10, high: 100 }, defaultVariant: 'high' };
  const RULE_MESSAGE = "Invalid targeting configuration for flag 'bad-rule'";
  const REF_MESSAGE = 'targeting refers to evaluator "staf", which $evaluators does not define';

  /** The two storage layouts, each turning a set of flag definitions into the Consul keys that hold them. */
  const LAYOUTS = [
    {
      layout: 'one key',
      source: { key: KEY },
      entries: (flags: Record<string, unknown>) => ({ [KEY]: json({ $evaluators: { staff }, flags }) }),
      at: (flag: string) => `${KEY} at flags.${flag}`,
      issue: (flag: string, message: string) => ({ key: KEY, path: ['flags', flag], message }),
    },
    {
      layout: 'one key per flag',
      source: { prefix: 'flags/' },
      entries: (flags: Record<string, unknown>) => ({
        'flags/$evaluators': json({ staff }),
        ...Object.fromEntries(Object.entries(flags).map(([name, flag]) => [`flags/${name}`, json(flag)])),
      }),
      at: (flag: string) => `flags/${flag}`,
      issue: (flag: string, message: string) => ({ key: `flags/${flag}`, path: [], message }),
    },
  ];

  describe.each(LAYOUTS)('$layout', ({ source, entries, at, issue }) => {
    it('initializes, serves the good flag with its targeting and answers PARSE_ERROR for each broken one', async () => {
      const { client, events } = await start(
        source,
        entries({ 'new-ui': GOOD, 'bad-rule': BAD_RULE, 'bad-ref': BAD_REF }),
      );
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
        errorMessage: `${at('bad-rule')}: ${RULE_MESSAGE}`,
        flagMetadata: {},
      });
      expect(await client.getBooleanDetails('bad-ref', true, { email: 'ana@example.com' })).toEqual({
        flagKey: 'bad-ref',
        value: true,
        reason: 'ERROR',
        errorCode: 'PARSE_ERROR',
        errorMessage: `${at('bad-ref')}: ${REF_MESSAGE}`,
        flagMetadata: {},
      });
      expect(events).toEqual([{ type: ProviderEvents.Ready }]);
    });

    it('rejects initialize when no flag at all can be loaded, listing every broken flag', async () => {
      const watcher = new FakeWatcher();
      const provider = new ConsulFlagProvider({ ...source, watcher: watcher.asWatcher() });
      const ready = OpenFeature.setProviderAndWait(provider);
      watcher.last.load(entries({ 'bad-rule': BAD_RULE, 'bad-ref': BAD_REF }));
      await expect(ready).rejects.toThrow(ConfigValidationError);
      await expect(ready).rejects.toMatchObject({
        code: 'CONSUL_CONFIG_VALIDATION',
        issues: [issue('bad-ref', REF_MESSAGE), issue('bad-rule', RULE_MESSAGE)],
      });
      expect(OpenFeature.getClient().providerStatus).toBe('ERROR');
    });

    it('emits ConfigurationChanged with exactly the key of a broken flag once it is fixed', async () => {
      const { client, sub, events } = await start(
        source,
        entries({ 'new-ui': GOOD, 'bad-rule': BAD_RULE, 'bad-ref': BAD_REF }),
      );
      sub.load(entries({ 'new-ui': GOOD, 'bad-rule': BAD_RULE, 'bad-ref': FIXED_REF }));
      expect(await client.getBooleanDetails('bad-ref', true, { email: 'ana@example.com' })).toMatchObject({
        value: false,
        variant: 'off',
        reason: 'TARGETING_MATCH',
      });
      expect((await client.getBooleanDetails('bad-rule', false)).errorCode).toBe('PARSE_ERROR');
      expect(events).toEqual([
        { type: ProviderEvents.Ready },
        { type: ProviderEvents.ConfigurationChanged, flagsChanged: ['bad-ref'] },
      ]);
    });

    it('keeps serving the last good definition of a flag that breaks, with one Error naming it, while the others change', async () => {
      const { client, sub, events } = await start(
        source,
        entries({ 'new-ui': GOOD, 'max-items': MAX_ITEMS }),
      );
      sub.load(entries({ 'new-ui': BAD_REF, 'max-items': { ...MAX_ITEMS, defaultVariant: 'low' } }));
      expect(client.providerStatus).toBe('ERROR');
      expect(await client.getBooleanValue('new-ui', false, { email: 'ana@example.com' })).toBe(true);
      expect(await client.getNumberValue('max-items', 0)).toBe(10);
      // The same broken flag again: nothing new to report.
      sub.load(entries({ 'new-ui': BAD_REF, 'max-items': MAX_ITEMS }));
      sub.load(entries({ 'new-ui': FIXED_REF, 'max-items': MAX_ITEMS }));
      expect(client.providerStatus).toBe('READY');
      expect(await client.getBooleanValue('new-ui', true, { email: 'ana@example.com' })).toBe(false);
      expect(events).toEqual([
        { type: ProviderEvents.Ready },
        {
          type: ProviderEvents.Error,
          message: `invalid config under ${'key' in source ? source.key : source.prefix}: 1 problem; the last good value keeps serving\n  - ${at('new-ui')}: ${REF_MESSAGE}`,
        },
        { type: ProviderEvents.ConfigurationChanged, flagsChanged: ['max-items'] },
        { type: ProviderEvents.ConfigurationChanged, flagsChanged: ['max-items'] },
        { type: ProviderEvents.Ready },
        { type: ProviderEvents.ConfigurationChanged, flagsChanged: ['new-ui'] },
      ]);
    });

    it('answers PARSE_ERROR for a flag added broken, reports it with Error, and leaves flagsChanged alone', async () => {
      const { client, sub, events } = await start(source, entries({ 'new-ui': GOOD }));
      sub.load(entries({ 'new-ui': GOOD, 'bad-rule': BAD_RULE }));
      expect((await client.getBooleanDetails('bad-rule', false)).errorCode).toBe('PARSE_ERROR');
      expect(await client.getBooleanValue('new-ui', false, { email: 'ana@example.com' })).toBe(true);
      expect(events.map((event) => event.type)).toEqual([ProviderEvents.Ready, ProviderEvents.Error]);
      expect(events[1]?.message).toContain(`${at('bad-rule')}: ${RULE_MESSAGE}`);
    });
  });

  it('reports $evaluators that is not an object, and breaks only the flags whose targeting uses a $ref', async () => {
    const { client, events } = await start(
      { key: KEY },
      { [KEY]: json({ $evaluators: ['staff'], flags: { 'new-ui': GOOD, 'max-items': MAX_ITEMS } }) },
    );
    expect(await client.getNumberValue('max-items', 0)).toBe(100);
    expect(await client.getBooleanDetails('new-ui', false)).toMatchObject({
      errorCode: 'PARSE_ERROR',
      errorMessage: `${KEY} at flags.new-ui: targeting refers to evaluator "staff", which $evaluators does not define`,
    });
    expect(events).toEqual([{ type: ProviderEvents.Ready }]);
  });

  it('treats a flag key whose value is not JSON as one broken flag under a prefix', async () => {
    const { client, events } = await start(
      { prefix: 'flags/' },
      { 'flags/max-items': json(MAX_ITEMS), 'flags/broken': '{"state": ' },
    );
    expect(await client.getNumberValue('max-items', 0)).toBe(100);
    expect(await client.getBooleanDetails('broken', false)).toMatchObject({
      value: false,
      reason: 'ERROR',
      errorCode: 'PARSE_ERROR',
      errorMessage: expect.stringMatching(/^flags\/broken: not valid JSON: /),
    });
    expect(events).toEqual([{ type: ProviderEvents.Ready }]);
  });
});
