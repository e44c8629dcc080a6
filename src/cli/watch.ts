/**
 * `consul-hotreload watch <key-or-prefix>`: prints each change as it happens, for a person or as JSON lines,
 * optionally with what the watch costs Consul. Stops on SIGINT/SIGTERM (or `io.signal`) and closes the
 * watcher, so no request is left open.
 * @module
 */
import { type ConfigValidationError, type ConsulError, isConsulError } from '../errors.js';
import type { Subscription } from '../watch/subscription.js';
import type { KeyChange, StateEvent, WatcherOptions } from '../watch/types.js';
import { Watcher } from '../watch/watcher.js';
import { type StartupGuard, startupGuard } from './agent-check.js';
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  connectionOptions,
  consulAddress,
  DEFAULT_TIMEOUT_MS,
  parseChoiceFlag,
  parseDurationFlag,
  requirePositionals,
  runCommand,
} from './options.js';
import { type CommandIo, EXIT, EXIT_CODES_HELP } from './output.js';
import { DecodeFailure, KeyTracker, keyDecoder, printable } from './watch-keys.js';

/** Help text of `consul-hotreload watch`. */
export const HELP = `Usage: consul-hotreload watch [options] <key-or-prefix>

Follow a key, or every key below a prefix (an argument ending in /), with blocking queries and
print each change as it happens, until Ctrl-C (SIGINT) or SIGTERM; then exit 0.

Output (stdout) for a person:
  watching config/app/ from index 12: 3 keys
  [index 13] updated config/app/db/port = 5433 (was 5432)
  [index 14] added config/app/feature = "on"
  [index 15] deleted config/app/old (was "x")
  [index 16] invalid config under config/app/: 1 problem; the last good value keeps serving
    - config/app/db/port at db.port: not valid JSON: Unexpected token 'x', "x" is not valid JSON
Values are shown as JSON (strings quoted) and cut at 200 characters. Each key is decoded on its
own: a key that does not decode (--format json or yaml) is printed as invalid, with the reason,
and the changes of the other keys are still printed; once fixed, it is shown against its last
valid value ("added" when it never had one). The values of keys whose name below the prefix
looks secret (token, secret, password, credential, private-key, api-key, auth), and such
fields inside JSON/YAML values, are printed as "[redacted]" in the text and the JSON output
alike; get prints a value when asked for it by name. Request errors and
stale/healthy transitions go to stderr; the watch keeps retrying.

With --json, one JSON object per line on stdout, each with a "type":
  ready    {key, index, valid, current}     once, when the first answer arrived; valid is
                                            false while a key does not decode, and current
                                            leaves such keys out
  change   {key, index, changes: [{key, type: added|updated|deleted, value, previous}]}
  invalid  {key, index, message, issues}    keys that do not decode (--format), one issue
                                            ({key, path, message}) each
  error    {key, code, message}             a failed request (the watch retries)
  state    {key, state, previous}           stale / ready again
  stopped  {key}                            on exit
("value" is absent for a deleted key, "previous" for an added one.)

Options:
  --format <f>             how values are decoded: text, json or yaml (default text)
  --json                   print JSON lines instead of text
  --stats                  add what the watch costs Consul to each event and on exit:
                           requests sent, answers that changed something, spurious wake-ups
                           (answers that changed nothing), failed requests, bytes received
  --wait <duration>        how long Consul may hold each blocking query (default 5m, max 10m)
  --min-interval <d>       least time between two requests (default 100ms; 0 disables)

--timeout is how long to wait for the first answer (exit code 2 after it); once watching,
the command retries for as long as it runs. A refused connection, or an address that answers
but not as a Consul agent, ends the command at once with exit code 2.

${CONNECTION_HELP}
${EXIT_CODES_HELP}`;

const FORMATS = ['text', 'json', 'yaml'] as const;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  format: { type: 'string' },
  json: { type: 'boolean' },
  stats: { type: 'boolean' },
  wait: { type: 'string' },
  'min-interval': { type: 'string' },
} as const;

/** Longest shown value in the text output, in characters. */
const SHOWN_VALUE_CHARS = 200;

/** What the watch has cost Consul so far, summed over its blocking queries. */
interface WatchCost {
  requests: number;
  changes: number;
  spurious: number;
  errors: number;
  bytes: number;
}

/** Prints the events of one subscription; one implementation per output mode. */
interface WatchPrinter {
  /** The first answer arrived; `invalid` lists what did not decode or validate in it. */
  ready(subscription: Subscription<unknown>, invalid: ConfigValidationError | undefined): void;
  /** An answer brought these valid changes, and these keys that do not decode or validate. */
  update(index: number, changes: readonly KeyChange[], invalid: ConfigValidationError | undefined): void;
  problem(error: ConsulError): void;
  health(event: StateEvent): void;
  stopped(): void;
}

/** Runs `consul-hotreload watch` with these arguments; resolves with the exit code once stopped. */
export function runWatch(argv: string[], io: CommandIo): Promise<number> {
  return runCommand('watch', argv, io, OPTIONS, HELP, async ({ values, positionals }) => {
    const [key = ''] = requirePositionals(positionals, ['<key-or-prefix>']);
    const format = parseChoiceFlag(values.format, '--format', FORMATS, 'text');
    const connection = await connectionOptions(values, io);
    const watcherOptions: WatcherOptions = {
      ...connection,
      startTimeout: parseDurationFlag(values.timeout, '--timeout', DEFAULT_TIMEOUT_MS),
    };
    if (values.wait !== undefined) watcherOptions.wait = parseDurationFlag(values.wait, '--wait', 0);
    if (values['min-interval'] !== undefined) {
      watcherOptions.minInterval = parseDurationFlag(values['min-interval'], '--min-interval', 0, true);
    }
    const stop = stopSignal(io);
    try {
      const watcher = new Watcher(watcherOptions);
      try {
        const cost = values.stats === true ? () => costOf(watcher) : undefined;
        const printer = values.json === true ? jsonPrinter(io, key, cost) : textPrinter(io, cost);
        const guard = startupGuard(consulAddress(connection), key);
        try {
          const subscription = watcher.watch(key, { format: keyDecoder(format, key) });
          return await follow(subscription, printer, stop.signal, guard);
        } finally {
          guard.dispose();
        }
      } finally {
        await watcher.close();
      }
    } finally {
      stop.dispose();
    }
  });
}

const STOPPED = Symbol('stopped');

/**
 * Prints the subscription's events until `signal` fires. Throws when the first value cannot be read, at
 * once when `guard` finds the address refusing connections or not Consul's. Keys
 * that do not decode come as {@link DecodeFailure} values (see watch-keys.ts); the engine's own `invalid`
 * events remain for what no single key causes (a key that is also a folder).
 */
async function follow(
  subscription: Subscription<unknown>,
  printer: WatchPrinter,
  signal: AbortSignal,
  guard: StartupGuard,
): Promise<number> {
  let started = false;
  const tracker = new KeyTracker(subscription.key);
  subscription.on('change', (event) => {
    const { changes, invalid } = tracker.apply(event);
    printer.update(event.index, changes, invalid);
  });
  // Before the first answer, failures are summed up by `ready`'s rejection (with the last error) instead.
  subscription.on('invalid', (error) => {
    if (started) printer.update(subscription.index, [], error);
  });
  subscription.on('error', (error) => {
    if (started) printer.problem(error);
    else guard.error(error);
  });
  subscription.on('state', (event) => {
    const recovered = event.state === 'ready' && event.previous === 'stale';
    if (started && (event.state === 'stale' || recovered)) printer.health(event);
  });
  const aborted = whenAborted(signal);
  try {
    const first = await Promise.race([
      subscription.ready.then(
        () => undefined,
        (error: unknown) => error,
      ),
      guard.failure,
      aborted.promise.then(() => STOPPED),
    ]);
    guard.dispose();
    if (first !== STOPPED) {
      // An undecodable first value is an event like the later ones: keep watching for a fix.
      const invalidFirst = isValidationError(first) ? first : tracker.start(subscription.entries);
      if (first !== undefined && !isValidationError(first)) throw first;
      started = true;
      printer.ready(subscription, invalidFirst);
      if (invalidFirst !== undefined) printer.update(subscription.index, [], invalidFirst);
      await aborted.promise;
    }
    printer.stopped();
    return EXIT.ok;
  } finally {
    aborted.dispose();
  }
}

function isValidationError(error: unknown): error is ConfigValidationError {
  return isConsulError(error) && error.code === 'CONSUL_CONFIG_VALIDATION';
}

function costOf(watcher: Watcher): WatchCost {
  const cost: WatchCost = { requests: 0, changes: 0, spurious: 0, errors: 0, bytes: 0 };
  for (const query of watcher.stats().queries) {
    cost.requests += query.requests;
    cost.changes += query.changes;
    cost.spurious += query.spurious;
    cost.errors += query.errors;
    cost.bytes += query.bytes;
  }
  return cost;
}

function costText(cost: WatchCost): string {
  return `requests=${cost.requests} changes=${cost.changes} spurious=${cost.spurious} errors=${cost.errors} bytes=${cost.bytes}`;
}

/** A value for a person: JSON (so strings show quoted, whitespace visible), cut when long. */
function show(value: unknown): string {
  if (value === undefined) return '(empty)';
  if (value instanceof DecodeFailure) return 'invalid';
  let text: string;
  try {
    text = JSON.stringify(value, printable) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > SHOWN_VALUE_CHARS
    ? `${text.slice(0, SHOWN_VALUE_CHARS)}… (${text.length} characters)`
    : text;
}

function textPrinter(io: CommandIo, cost: (() => WatchCost) | undefined): WatchPrinter {
  const printCost = (): void => {
    if (cost !== undefined) io.stdout(`  stats: ${costText(cost())}\n`);
  };
  return {
    ready(subscription, invalid) {
      const { size } = subscription.entries;
      let what: string;
      // The engine refusing the whole prefix (a key that is also a folder) leaves no entries to count.
      if (subscription.key.endsWith('/') && (invalid === undefined || size > 0)) {
        what = size === 1 ? '1 key' : `${size} keys`;
        if (invalid !== undefined) what += `, ${invalid.issues.length} invalid`;
      } else if (invalid !== undefined) what = 'no valid value yet';
      else what = size === 0 ? 'no such key' : show(subscription.current);
      io.stdout(`watching ${subscription.key} from index ${subscription.index}: ${what}\n`);
    },
    update(index, changes, invalid) {
      for (const change of changes) {
        const head = `[index ${index}] ${change.type} ${change.key}`;
        if (change.type === 'added') io.stdout(`${head} = ${show(change.value)}\n`);
        else if (change.type === 'updated')
          io.stdout(`${head} = ${show(change.value)} (was ${show(change.previous)})\n`);
        else io.stdout(`${head} (was ${show(change.previous)})\n`);
      }
      if (invalid !== undefined) io.stdout(`[index ${index}] ${invalid.message}\n`);
      printCost();
    },
    problem(error) {
      io.stderr(`error: ${error.message} (still watching; retrying)\n`);
    },
    health(event) {
      io.stderr(`state: ${event.state} (was ${event.previous})\n`);
    },
    stopped() {
      io.stdout(cost === undefined ? 'stopped\n' : `stopped: ${costText(cost())}\n`);
    },
  };
}

function jsonPrinter(io: CommandIo, key: string, cost: (() => WatchCost) | undefined): WatchPrinter {
  const print = (line: Record<string, unknown>): void => {
    const json = JSON.stringify(cost === undefined ? line : { ...line, stats: cost() }, printable);
    io.stdout(`${json}\n`);
  };
  return {
    ready(subscription, invalid) {
      const { index, current } = subscription;
      print({ type: 'ready', key, index, valid: invalid === undefined, current });
    },
    update(index, keyChanges, invalid) {
      if (keyChanges.length > 0) {
        const changes = keyChanges.map(({ key, type, value, previous }) => ({ key, type, value, previous }));
        print({ type: 'change', key, index, changes });
      }
      if (invalid !== undefined) {
        print({ type: 'invalid', key, index, message: invalid.message, issues: invalid.issues });
      }
    },
    problem(error) {
      print({ type: 'error', key, code: error.code, message: error.message });
    },
    health(event) {
      print({ type: 'state', key, state: event.state, previous: event.previous });
    },
    stopped() {
      print({ type: 'stopped', key });
    },
  };
}

/** What stops the watch, and how to stop listening for it. */
export interface StopSignal {
  signal: AbortSignal;
  dispose(): void;
}

/** `io.signal` when given; else the process's SIGINT and SIGTERM, whose listeners `dispose()` removes. */
export function stopSignal(io: CommandIo): StopSignal {
  if (io.signal !== undefined) return { signal: io.signal, dispose: () => {} };
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals): void => controller.abort(name);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/** A promise that resolves when `signal` aborts; `dispose()` removes the listener either way. */
export function whenAborted(signal: AbortSignal): { promise: Promise<void>; dispose(): void } {
  let onAbort = (): void => {};
  const promise = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}
