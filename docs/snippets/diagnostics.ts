import diagnosticsChannel from 'node:diagnostics_channel';
import { Watcher } from 'consul-hotreload';
import pino from './pino-stub.js';

diagnosticsChannel.subscribe('consul-hotreload:request:finish', (message) => {
  const { operation, path, status, durationMs, bytes } = message as {
    operation: string;
    path: string;
    status: number | undefined;
    durationMs: number;
    bytes: number;
  };
  console.log(
    `${operation} ${path} -> ${status ?? 'no answer'} in ${durationMs.toFixed(1)} ms, ${bytes} bytes`,
  );
});

// Any logger with pino's or console's shape; the token never reaches it.
const watcher = new Watcher({ logger: pino });
console.log(watcher.stats()); // per query: requests, errors, changes, spurious, indexResets, bytes, …
await watcher.close();
