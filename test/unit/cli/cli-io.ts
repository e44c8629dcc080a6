/**
 * Test helpers for the CLI commands: an io that records what a command prints and lets a test await a
 * piece of output, the address of a port where nothing listens, and a dev server and temporary directory
 * cleaned up after each test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { CommandIo } from '../../../src/cli/output.js';
import { type DevServer, type DevServerOptions, startDevServer } from '../../../src/devserver/server.js';

interface Waiter {
  stream: 'out' | 'err';
  text: string;
  resolve: () => void;
}

/** A {@link CommandIo} that records stdout and stderr, with an empty environment unless given one. */
export class RecordingIo implements CommandIo {
  out = '';
  err = '';
  env: Record<string, string | undefined>;
  signal: AbortSignal | undefined;
  readonly #waiters = new Set<Waiter>();

  constructor(options: { env?: Record<string, string | undefined>; signal?: AbortSignal } = {}) {
    this.env = options.env ?? {};
    this.signal = options.signal;
  }

  stdout = (text: string): void => {
    this.out += text;
    this.#wake();
  };

  stderr = (text: string): void => {
    this.err += text;
    this.#wake();
  };

  /** Resolves once stdout contains `text`. */
  untilStdout(text: string): Promise<void> {
    return this.#until('out', text);
  }

  /** Resolves once stderr contains `text`. */
  untilStderr(text: string): Promise<void> {
    return this.#until('err', text);
  }

  #until(stream: 'out' | 'err', text: string): Promise<void> {
    if (this[stream].includes(text)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.add({ stream, text, resolve }));
  }

  #wake(): void {
    for (const waiter of this.#waiters) {
      if (this[waiter.stream].includes(waiter.text)) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}

/** `http://127.0.0.1:<port>` for a port that was free a moment ago and has nothing listening. */
export async function closedPortAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${address.port}`;
}

/** What {@link useCommandFixtures} gives a test file. */
export interface CommandFixtures {
  /** Starts the embedded dev server with these options; it is closed after the test. */
  startServer(options: DevServerOptions): Promise<DevServer>;
  /** Makes a fresh directory in the OS temp dir whose name starts with `prefix`; removed after the test. */
  tempDir(prefix: string): Promise<string>;
}

/**
 * Registers an `afterEach` that closes the last dev server started and removes the last temporary directory
 * made; call once at the top level of a test file.
 */
export function useCommandFixtures(): CommandFixtures {
  let server: DevServer | undefined;
  let tempDir: string | undefined;

  afterEach(async () => {
    await server?.close();
    server = undefined;
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
    tempDir = undefined;
  });

  return {
    async startServer(options: DevServerOptions): Promise<DevServer> {
      server = await startDevServer(options);
      return server;
    },
    async tempDir(prefix: string): Promise<string> {
      tempDir = await mkdtemp(join(tmpdir(), prefix));
      return tempDir;
    },
  };
}

/**
 * Runs `use` with the address of an HTTP server that is not Consul: it answers every request `404` with an
 * HTML page, as a web server does. The server is closed afterwards.
 */
export async function withHtmlServer<T>(use: (address: string) => Promise<T>): Promise<T> {
  const server = createHttpServer((_request, response) => {
    response.writeHead(404, { 'content-type': 'text/html' });
    response.end('<html><body><h1>404 Not Found</h1></body></html>');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('expected a TCP address');
  try {
    return await use(`http://127.0.0.1:${address.port}`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
