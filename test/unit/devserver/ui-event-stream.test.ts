/** The web page's live feed: no work without a page, exact `kv` events, listeners only while a page is connected. */
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../../src/devserver/catalog.js';
import { DevServerFaults } from '../../../src/devserver/faults.js';
import { SessionStore } from '../../../src/devserver/sessions.js';
import { KvStore } from '../../../src/devserver/store.js';
import {
  MAX_EVENT_KEYS,
  MAX_EVENT_VALUE_BYTES,
  UiEventStream,
} from '../../../src/devserver/ui/event-stream.js';
import { UiFaults } from '../../../src/devserver/ui/ui-faults.js';
import { WaiterRegistry } from '../../../src/devserver/waiters.js';
import { ManualClock } from '../../helpers/manual-clock.js';

/** A response that records what the stream writes. */
class FakeResponse extends EventEmitter {
  status = 0;
  headers: Record<string, string> = {};
  text = '';
  writableEnded = false;
  destroyed = false;
  writableLength = 0;
  writeHead(status: number, headers: Record<string, string> = {}): this {
    this.status = status;
    this.headers = headers;
    return this;
  }
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
  end(): this {
    this.writableEnded = true;
    this.emit('close');
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    this.emit('close');
    return this;
  }
  /** The events written so far, as [name, data]. */
  events(): [string, unknown][] {
    return this.text
      .split('\n\n')
      .filter((frame) => frame.startsWith('event: '))
      .map((frame) => {
        const [eventLine = '', dataLine = ''] = frame.split('\n');
        return [eventLine.slice('event: '.length), JSON.parse(dataLine.slice('data: '.length))];
      });
  }
}

const asResponse = (fake: FakeResponse) => fake as unknown as ServerResponse;

let stream: UiEventStream | undefined;

afterEach(() => {
  stream?.close();
  stream = undefined;
});

function setup() {
  const events = new UiEventStream();
  stream = events;
  const waiters = new WaiterRegistry();
  let reads = 0;
  const store = new KvStore({
    tombstoneTtlMs: 60_000,
    now: () => 1_000,
    onCommit: (keys) => events.kvCommitted(keys, waiters.notify(keys)),
  });
  const catalog = new Catalog({ now: () => 1_000, raft: store.raft });
  const sessions = new SessionStore({ store, nodeName: 'node-1', now: () => 1_000 });
  const faults = new UiFaults(new DevServerFaults(), new ManualClock());
  const stats = () => {
    reads++;
    return { requests: 0, blockingHeld: waiters.counts().held, wakeups: 0, connections: 0 };
  };
  events.attach({ store, waiters, catalog, sessions, faults, stats, now: () => 1_000 });
  return { events, store, waiters, catalog, sessions, reads: () => reads };
}

describe('UiEventStream', () => {
  it('does nothing on a write while no page is connected', () => {
    const events = new UiEventStream();
    stream = events;
    const trap = new Proxy({} as never, {
      get() {
        throw new Error('the feed read its sources with no page connected');
      },
    });
    events.attach(trap);
    expect(() => events.kvCommitted(['a'], 0)).not.toThrow();
    expect(events.clients).toBe(0);
  });

  it('sends hello, then one kv event per commit with each key, its op, value and the queries woken', () => {
    const { events, store, waiters } = setup();
    const page = new FakeResponse();
    events.connect(asResponse(page));
    expect([page.status, page.headers['Content-Type']]).toEqual([200, 'text/event-stream; charset=utf-8']);
    let woken = 0;
    waiters.add({ kind: 'prefix', path: 'config/' }, () => woken++);
    waiters.add({ kind: 'key', path: 'config/a' }, () => woken++);

    store.set('config/a', Buffer.from('"one"'), 7n);
    store.set('config/a', Buffer.from('"two"'), 7n);
    store.set('config/a', Buffer.from('"two"'), 7n); // identical: no commit, no event
    store.delete('config/a');

    expect(woken).toBe(6);
    const [hello, ...rest] = page.events();
    expect(hello?.[0]).toBe('hello');
    expect(rest).toEqual([
      [
        'kv',
        {
          index: 2,
          timeMs: 1_000,
          changes: [
            {
              key: 'config/a',
              op: 'create',
              createIndex: 2,
              modifyIndex: 2,
              lockIndex: 0,
              flags: '7',
              value: Buffer.from('"one"').toString('base64'),
              size: 5,
            },
          ],
          more: 0,
          woken: 2,
          held: 2,
        },
      ],
      [
        'kv',
        {
          index: 3,
          timeMs: 1_000,
          changes: [
            {
              key: 'config/a',
              op: 'update',
              createIndex: 2,
              modifyIndex: 3,
              lockIndex: 0,
              flags: '7',
              value: Buffer.from('"two"').toString('base64'),
              size: 5,
            },
          ],
          more: 0,
          woken: 2,
          held: 2,
        },
      ],
      [
        'kv',
        { index: 4, timeMs: 1_000, changes: [{ key: 'config/a', op: 'delete' }], more: 0, woken: 2, held: 2 },
      ],
    ]);
  });

  it('lists the first keys of a large write and leaves big values out', () => {
    const { events, store } = setup();
    const page = new FakeResponse();
    events.connect(asResponse(page));
    store.set('big', Buffer.alloc(MAX_EVENT_VALUE_BYTES + 1, 'x'), 0n);
    for (let i = 0; i < MAX_EVENT_KEYS + 5; i++) store.set(`many/${String(i).padStart(3, '0')}`, null, 0n);
    store.deleteTree('many/');
    const kv = page.events().filter(([name]) => name === 'kv');
    const big = kv[0]?.[1] as { changes: { value?: string; size: number }[] };
    expect([big.changes[0]?.value, big.changes[0]?.size]).toEqual([undefined, MAX_EVENT_VALUE_BYTES + 1]);
    const tree = kv.at(-1)?.[1] as { changes: unknown[]; more: number };
    expect([tree.changes.length, tree.more]).toEqual([MAX_EVENT_KEYS, 5]);
  });

  it('listens to the catalog and sessions only while a page is connected', async () => {
    const { events, catalog, sessions, store } = setup();
    expect(catalog.waiters.counts().held).toBe(0);
    const page = new FakeResponse();
    events.connect(asResponse(page));
    expect(catalog.waiters.counts().held).toBe(1);

    catalog.setNodeMaintenance(true, 'test');
    catalog.setNodeMaintenance(false, '');
    const created = sessions.create({
      name: 's',
      node: 'node-1',
      lockDelayNs: 0,
      behavior: '',
      ttl: '',
      nodeChecks: null,
      serviceChecks: null,
      checks: null,
    });
    expect(created.ok).toBe(true);
    await new Promise((resolve) => setImmediate(resolve));
    // Both catalog writes of the same turn are told once.
    expect(page.events().map(([name]) => name)).toEqual(['hello', 'catalog', 'sessions']);

    page.end();
    expect([events.clients, catalog.waiters.counts().held]).toEqual([0, 0]);
    const before = page.text;
    store.set('after', null, 0n);
    catalog.setNodeMaintenance(true, 'again');
    await new Promise((resolve) => setImmediate(resolve));
    expect(page.text).toBe(before);
  });

  it('drops a page that stops reading instead of buffering for it', () => {
    const { events, store } = setup();
    const slow = new FakeResponse();
    const fast = new FakeResponse();
    events.connect(asResponse(slow));
    events.connect(asResponse(fast));
    slow.writableLength = 5 * 1024 * 1024;
    store.set('k', Buffer.from('v'), 0n);
    expect([slow.destroyed, events.clients]).toEqual([true, 1]);
    expect(fast.events().map(([name]) => name)).toEqual(['hello', 'kv']);
  });

  it('ends every stream on close and refuses new ones', () => {
    const { events, catalog } = setup();
    const page = new FakeResponse();
    events.connect(asResponse(page));
    events.close();
    expect([page.writableEnded, events.clients, catalog.waiters.counts().held]).toEqual([true, 0, 0]);
    const late = new FakeResponse();
    events.connect(asResponse(late));
    expect(late.status).toBe(503);
  });
});
