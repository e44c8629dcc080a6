/** Shared setup for client unit tests: a ConsulClient over an undici MockAgent, no network. */
import { inspect } from 'node:util';
import { type Interceptable, MockAgent } from 'undici';
import { expect } from 'vitest';
import { ConsulClient } from '../../../src/consul/client.js';
import type { ConsulClientOptions } from '../../../src/consul/config.js';

export const ORIGIN = 'http://127.0.0.1:8500';
export const TOKEN = '8d1e6e3a-super-secret-token';

/** Index headers as Consul sends them on reads (consul-semantics §1). */
export function meta(index: number | string): Record<string, string> {
  return { 'x-consul-index': String(index), 'x-consul-knownleader': 'true', 'x-consul-lastcontact': '0' };
}

export interface MockConsul {
  agent: MockAgent;
  pool: Interceptable;
  client: ConsulClient;
  /** Every request made, as `METHOD /path?query` in send order. */
  requests(): string[];
  /** Headers of every request made. */
  headers(): Array<Record<string, string | string[]> | null | undefined>;
  /** Bodies of every request made. */
  bodies(): unknown[];
  /** Asserts no interceptor is left, then closes client and agent. Idempotent. */
  finish(): Promise<void>;
}

/** A client with a token, reading no real environment, sending through a MockAgent. */
export function mockConsul(options: ConsulClientOptions = {}): MockConsul {
  const agent = new MockAgent({ enableCallHistory: true });
  agent.disableNetConnect();
  const client = new ConsulClient({ dispatcher: agent, env: {}, token: TOKEN, ...options });
  let finished = false;
  const calls = () => agent.getCallHistory()?.calls() ?? [];
  return {
    agent,
    pool: agent.get(ORIGIN),
    client,
    requests: () => calls().map((call) => `${call.method} ${call.fullUrl.slice(call.origin.length)}`),
    headers: () => calls().map((call) => call.headers),
    bodies: () => calls().map((call) => call.body),
    async finish() {
      if (finished) return;
      finished = true;
      await client.close();
      agent.assertNoPendingInterceptors();
      await agent.close();
    },
  };
}

/** Runs `fn`, expecting a rejection, and returns the error. */
export async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the promise to reject');
}

/** Asserts the token is nowhere in the error: message, stack, cause chain, any field. */
export function expectNoToken(error: unknown): void {
  expect(inspect(error, { depth: 10, showHidden: true })).not.toContain(TOKEN);
  let current: unknown = error;
  while (current instanceof Error) {
    expect(current.message).not.toContain(TOKEN);
    expect(String(current.stack)).not.toContain(TOKEN);
    current = current.cause;
  }
}

/** Asserts no 6-character piece of `secret` appears in `text`: a cut or partly redacted secret fails too. */
export function expectNoPiece(text: string, secret: string): void {
  for (let i = 0; i + 6 <= secret.length; i++) expect(text).not.toContain(secret.slice(i, i + 6));
}
