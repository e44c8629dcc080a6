/**
 * `consul-hotreload services [<name>]`: lists the registered services, or the instances of one with their
 * health, once or (`--watch`) as they change, for a person or as JSON.
 * @module
 */
import type { ServiceInstance } from '../consul/health.js';
import { toInstance } from '../consul/health.js';
import type { ConsulError } from '../errors.js';
import type { ServiceChangeEvent, StateEvent } from '../watch/types.js';
import { type ServiceList, Watcher } from '../watch/watcher.js';
import { isConnectionRefused } from './agent-check.js';
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  type ConnectionValues,
  connectionOptions,
  DEFAULT_TIMEOUT_MS,
  parseDurationFlag,
  requirePositionals,
  runCommand,
  withConsulClient,
} from './options.js';
import { type CommandIo, EXIT, EXIT_CODES_HELP, UsageError } from './output.js';
import { stopSignal, whenAborted } from './watch.js';

/** Help text of `consul-hotreload services`. */
export const HELP = `Usage: consul-hotreload services [options] [<name>]

Without <name>, list every registered service and its tags (the catalog), one per line:
  web  [v1, primary]
With <name>, list its instances with their health (/v1/health/service/<name>), one per line:
  web-1  10.0.0.5:8081  passing  node node-1  tags v1
The address is the service's own, else its node's. Status is the worst of the instance's checks:
maintenance, critical, warning or passing. No service or no instance prints nothing and exits 0.

With --watch (needs <name>), print the list, then each change as Consul reports it, until
Ctrl-C (SIGINT) or SIGTERM; then exit 0:
  watching web from index 12: 2 instances
  [index 13] added web-3  127.0.0.1:8083  passing
  [index 14] removed web-1  10.0.0.5:8081  passing
  [index 15] changed web-2  127.0.0.1:8082  warning (was passing)
  [index 16] no instance left
Request errors and stale/healthy transitions go to stderr; the watch keeps retrying.

With --json: without --watch, a JSON object (services: name -> tags) or array (instances); with
--watch, one JSON object per line, each with a "type":
  ready    {service, index, instances}
  change   {service, index, added, removed, changed: [{instance, previous}]}
  empty    {service, index}
  error    {service, code, message}
  state    {service, state, previous}
  stopped  {service}

Options:
  --passing                only instances whose every check passes (node and maintenance
                           checks included; Consul's ?passing)
  --tag <tag>              only instances carrying this tag (repeat for several: all must match;
                           Consul's ?tag, case-insensitive)
  --watch                  follow the instances with blocking queries
  --json                   print JSON instead of text

${CONNECTION_HELP}
${EXIT_CODES_HELP}`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  passing: { type: 'boolean' },
  tag: { type: 'string', multiple: true },
  watch: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/** Runs `consul-hotreload services` with these arguments; resolves with the exit code. */
export function runServices(argv: string[], io: CommandIo): Promise<number> {
  return runCommand('services', argv, io, OPTIONS, HELP, async ({ values, positionals }) => {
    const [name] = requirePositionals(positionals, ['[<name>]']);
    const json = values.json === true;
    const passing = values.passing === true;
    const tags = values.tag ?? [];
    if (name === undefined) {
      if (values.watch === true) throw new UsageError('--watch needs a service name');
      if (passing) throw new UsageError('--passing needs a service name');
      if (tags.length > 0) throw new UsageError('--tag needs a service name');
      const { services } = await withConsulClient(values, io, (client) =>
        client.catalog.services(io.signal === undefined ? {} : { signal: io.signal }),
      );
      if (json) io.stdout(`${JSON.stringify(services)}\n`);
      else io.stdout(serviceLines(services));
      return EXIT.ok;
    }
    if (values.watch === true) return watchService(name, { passing, tags }, json, values, io);
    const { entries } = await withConsulClient(values, io, (client) =>
      client.health.service(name, {
        passing,
        tags,
        ...(io.signal === undefined ? {} : { signal: io.signal }),
      }),
    );
    const instances = entries.map(toInstance);
    if (json) io.stdout(`${JSON.stringify(instances)}\n`);
    else io.stdout(instances.map((instance) => `${instanceLine(instance)}\n`).join(''));
    return EXIT.ok;
  });
}

/** `name  [tag, tag]` lines, names aligned, sorted. */
function serviceLines(services: Record<string, string[]>): string {
  const names = Object.keys(services).sort();
  const width = Math.max(0, ...names.map((name) => name.length));
  return names
    .map((name) => {
      const tags = services[name] ?? [];
      return tags.length === 0 ? `${name}\n` : `${name.padEnd(width)}  [${tags.join(', ')}]\n`;
    })
    .join('');
}

function endpoint(instance: ServiceInstance): string {
  return instance.address.includes(':')
    ? `[${instance.address}]:${instance.port}`
    : `${instance.address}:${instance.port}`;
}

function instanceLine(instance: ServiceInstance): string {
  const tags = instance.tags.length === 0 ? '' : `  tags ${instance.tags.join(',')}`;
  return `${instance.id}  ${endpoint(instance)}  ${instance.status}  node ${instance.node}${tags}`;
}

/** Prints the events of one list; one implementation per output mode. */
interface ServicePrinter {
  ready(list: ServiceList): void;
  change(event: ServiceChangeEvent): void;
  empty(index: number): void;
  problem(error: ConsulError): void;
  health(event: StateEvent): void;
  stopped(): void;
}

function textPrinter(io: CommandIo): ServicePrinter {
  return {
    ready(list) {
      const count = list.instances.length;
      io.stdout(
        `watching ${list.service} from index ${list.index}: ${count === 1 ? '1 instance' : `${count} instances`}\n`,
      );
      for (const instance of list.instances) io.stdout(`  ${instanceLine(instance)}\n`);
    },
    change({ index, added, removed, changed }) {
      const line = (what: string, instance: ServiceInstance, tail = ''): void => {
        io.stdout(
          `[index ${index}] ${what} ${instance.id}  ${endpoint(instance)}  ${instance.status}${tail}\n`,
        );
      };
      for (const instance of added) line('added', instance);
      for (const instance of removed) line('removed', instance);
      for (const { instance, previous } of changed) {
        const was = previous.status === instance.status ? '' : ` (was ${previous.status})`;
        line('changed', instance, was);
      }
    },
    empty(index) {
      io.stdout(`[index ${index}] no instance left\n`);
    },
    problem(error) {
      io.stderr(`error: ${error.message} (still watching; retrying)\n`);
    },
    health(event) {
      io.stderr(`state: ${event.state} (was ${event.previous})\n`);
    },
    stopped() {
      io.stdout('stopped\n');
    },
  };
}

function jsonPrinter(io: CommandIo, service: string): ServicePrinter {
  const print = (line: Record<string, unknown>): void => io.stdout(`${JSON.stringify(line)}\n`);
  return {
    ready(list) {
      print({ type: 'ready', service, index: list.index, instances: list.instances });
    },
    change({ index, added, removed, changed }) {
      print({ type: 'change', service, index, added, removed, changed });
    },
    empty(index) {
      print({ type: 'empty', service, index });
    },
    problem(error) {
      print({ type: 'error', service, code: error.code, message: error.message });
    },
    health(event) {
      print({ type: 'state', service, state: event.state, previous: event.previous });
    },
    stopped() {
      print({ type: 'stopped', service });
    },
  };
}

const STOPPED = Symbol('stopped');

/** Follows one service until the stop signal; fails at once on a refused connection before the first list. */
async function watchService(
  name: string,
  filter: { passing: boolean; tags: string[] },
  json: boolean,
  values: ConnectionValues,
  io: CommandIo,
): Promise<number> {
  const connection = await connectionOptions(values, io);
  const watcher = new Watcher({
    ...connection,
    startTimeout: parseDurationFlag(values.timeout, '--timeout', DEFAULT_TIMEOUT_MS),
  });
  const stop = stopSignal(io);
  const aborted = whenAborted(stop.signal);
  try {
    const printer = json ? jsonPrinter(io, name) : textPrinter(io);
    const list = watcher.service(name, filter);
    let started = false;
    let refused: (error: ConsulError) => void = () => {};
    const failure = new Promise<ConsulError>((resolve) => {
      refused = resolve;
    });
    list.on('change', (event) => printer.change(event));
    list.on('empty', (event) => {
      if (started) printer.empty(event.index);
    });
    list.on('error', (error) => {
      if (started) printer.problem(error);
      else if (isConnectionRefused(error)) refused(error);
    });
    list.on('state', (event) => {
      const recovered = event.state === 'ready' && event.previous === 'stale';
      if (started && (event.state === 'stale' || recovered)) printer.health(event);
    });
    const first = await Promise.race([
      list.ready.then(
        () => undefined,
        (error: unknown) => error,
      ),
      failure,
      aborted.promise.then(() => STOPPED),
    ]);
    if (first !== STOPPED) {
      if (first !== undefined) throw first;
      started = true;
      printer.ready(list);
      await aborted.promise;
    }
    printer.stopped();
    return EXIT.ok;
  } finally {
    aborted.dispose();
    stop.dispose();
    await watcher.close();
  }
}
