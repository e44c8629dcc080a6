/** Shared setup for lock unit tests: Consul answers for sessions and lock keys, on the client MockAgent. */
import { vi } from 'vitest';
import type { MockConsul } from '../consul/mock-consul.js';
import { meta } from '../consul/mock-consul.js';

/** The lock flag in decimal, as Consul writes it in JSON and as the query parameter carries it. */
export const FLAG = '3304740253564472344';

/** A KV entry's JSON text with exact (possibly > 2^53) flags. */
export function entryJson(
  key: string,
  o: { session?: string; lockIndex?: number; flags?: string; modifyIndex?: number; value?: string },
): string {
  const value = o.value === undefined ? 'null' : JSON.stringify(Buffer.from(o.value).toString('base64'));
  const session = o.session === undefined ? '' : `,"Session":${JSON.stringify(o.session)}`;
  const modifyIndex = o.modifyIndex ?? 6;
  return `[{"LockIndex":${o.lockIndex ?? 0},"Key":${JSON.stringify(key)},"Flags":${o.flags ?? FLAG},"Value":${value}${session},"CreateIndex":5,"ModifyIndex":${modifyIndex}}]`;
}

/** A session's JSON as Consul answers info and renew. */
export function sessionJson(id: string, o: { lockDelayMs?: number; ttl?: string } = {}): unknown[] {
  return [
    {
      ID: id,
      Name: 'Consul API Lock',
      Node: 'node-1',
      LockDelay: (o.lockDelayMs ?? 15_000) * 1e6,
      Behavior: 'release',
      TTL: o.ttl ?? '15s',
      NodeChecks: ['serfHealth'],
      ServiceChecks: null,
      CreateIndex: 3,
      ModifyIndex: 3,
    },
  ];
}

/** A reply body the test sends later: a blocking read held until `answer()` (or aborted by the client). */
export function heldReply(): { body: () => Promise<string>; answer: (text: string) => void } {
  let answer: (text: string) => void = () => {};
  const promise = new Promise<string>((resolve) => {
    answer = resolve;
  });
  return { body: () => promise, answer };
}

/** Replies to `PUT /v1/session/create` with `id`. */
export function replyCreate(mock: MockConsul, id: string): void {
  mock.pool.intercept({ path: '/v1/session/create', method: 'PUT' }).reply(200, { ID: id });
}

/** The monitor's first read (held by `session`) and a blocking read that stays pending until answered. */
export function replyMonitor(
  mock: MockConsul,
  key: string,
  session: string,
  o: { lockIndex?: number; index?: number } = {},
): ReturnType<typeof heldReply> {
  const index = o.index ?? 7;
  mock.pool
    .intercept({ path: `/v1/kv/${key}?consistent=`, method: 'GET' })
    .reply(200, entryJson(key, { session, lockIndex: o.lockIndex ?? 1, modifyIndex: index }), {
      headers: meta(index),
    });
  const held = heldReply();
  mock.pool
    .intercept({ path: `/v1/kv/${key}?consistent=&index=${index}`, method: 'GET' })
    .reply(200, held.body, { headers: meta(index + 1) });
  return held;
}

/** Waits until the MockAgent has seen `count` requests, then lets their answers be handled. */
export async function requestsReach(mock: MockConsul, count: number): Promise<void> {
  await vi.waitFor(() => {
    if (mock.requests().length < count) throw new Error(`${mock.requests().length} requests so far`);
  });
  await turns();
}

/** Lets pending promise reactions and I/O callbacks run. */
export async function turns(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}
