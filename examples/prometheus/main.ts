/**
 * OpenTelemetry metrics of a Watcher, scraped by Prometheus, in one process:
 *
 * 1. starts the embedded Consul dev server, seeded with `config/app/`;
 * 2. makes an OpenTelemetry MeterProvider whose reader is a PrometheusExporter, served on `/metrics`;
 * 3. watches `config/app/`, instrumented with `instrumentWatcher`;
 * 4. makes a change, writes a value that is not JSON, and has Consul answer one request with a 500;
 * 5. prints one scrape of `/metrics`, then closes everything (or, with `--serve`, keeps serving).
 *
 * Run: npm run example:prometheus                      any free port, one scrape, exits
 *      npm run example:prometheus -- --port 9464 --serve   scrape http://127.0.0.1:9464/metrics yourself
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { startDevServer } from '../../src/devserver/server.js';
import type { ConfigValidationError, ConsulError } from '../../src/errors.js';
import { instrumentWatcher } from '../../src/metrics/index.js';
import type { ChangeEvent } from '../../src/watch/types.js';
import { Watcher } from '../../src/watch/watcher.js';

const { values: args } = parseArgs({
  options: { port: { type: 'string', default: '0' }, serve: { type: 'boolean', default: false } },
});

// The exporter is a MetricReader; its own server is not started, ours serves its handler on /metrics.
const exporter = new PrometheusExporter({ preventServerStart: true });
const provider = new MeterProvider({ readers: [exporter] });
const metricsServer = http.createServer((request, response) => {
  if (request.url === '/metrics') exporter.getMetricsRequestHandler(request, response);
  else response.writeHead(404).end();
});
metricsServer.listen(Number(args.port), '127.0.0.1');
await once(metricsServer, 'listening');
const metricsUrl = `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}/metrics`;

const consul = await startDevServer({
  port: 0,
  seed: { 'config/app/greeting': '"hello"', 'config/app/limit': 10 },
});
const watcher = new Watcher({ address: consul.address, env: {}, backoff: { min: 10, max: 100 } });
const instrumentation = instrumentWatcher(watcher, { meter: provider.getMeter('consul-hotreload') });

const sub = watcher.watch('config/app/', { format: 'json' });
console.log('config:', JSON.stringify(await sub.ready));

const changed = new Promise<ChangeEvent<unknown>>((resolve) => sub.once('change', resolve));
consul.kv.put('config/app/greeting', JSON.stringify('hello, world'));
console.log('changed:', JSON.stringify((await changed).current));

const refused = new Promise<ConfigValidationError>((resolve) => sub.once('invalid', resolve));
consul.kv.put('config/app/limit', '{lots');
console.log('refused:', (await refused).message.split('\n')[0]);

// The request after the next answer fails with a 500; the watch retries and recovers on its own.
consul.faults.inject({ fault: { kind: 'status', status: 500 }, times: 1 });
const failed = new Promise<ConsulError>((resolve) => sub.once('error', resolve));
consul.kv.put('config/app/limit', '20');
console.log('error:', (await failed).code);

console.log(`\nGET ${metricsUrl}\n`);
const scrape = await (await fetch(metricsUrl)).text();
console.log(scrape);

if (args.serve) {
  console.log(`serving ${metricsUrl} until Ctrl-C; the dev Consul is at ${consul.address}`);
  await once(process, 'SIGINT');
}
instrumentation.close();
await watcher.close();
await provider.shutdown();
metricsServer.close();
await consul.close();
