/**
 * Test helpers for the CLI commands: an io that records what a command prints and lets a test await a
 * piece of output, and the address of a port where nothing listens.
 */
import { createServer } from 'node:net';
import type { CommandIo } from '../../../src/cli/output.js';

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
