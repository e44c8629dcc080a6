/**
 * The web page's routes over a real loopback socket: the page files and their headers, `/ui` → `/ui/`,
 * the ACL on `/ui/api` (header only, never `?token=`), the state summary, the fault switches on the
 * server's clock, and the live feed read as a stream.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DevServerFaults } from '../../../src/devserver/faults.js';
import { type DevServer, type DevServerOptions, startDevServer } from '../../../src/devserver/server.js';
import { UiFaults } from '../../../src/devserver/ui/ui-faults.js';
import { ManualClock } from '../../helpers/manual-clock.js';

let server: DevServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: DevServerOptions = {}): Promise<DevServer> {
  server = await startDevServer({ port: 0, jitter: false, ...options });
  return server;
}

async function call(dev: DevServer, method: string, path: string, init: RequestInit = {}) {
  const response = await fetch(`${dev.address}${path}`, { method, redirect: 'manual', ...init });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** Reads SSE frames from the feed until `count` events arrived; then aborts. */
async function readEvents(
  dev: DevServer,
  count: number,
  headers: Record<string, string> = {},
  during?: () => void,
) {
  const controller = new AbortController();
  const response = await fetch(`${dev.address}/ui/api/events`, { headers, signal: controller.signal });
  expect(response.status).toBe(200);
  const reader = (response.body as ReadableStream<Uint8Array>)
    .pipeThrough(new TextDecoderStream())
    .getReader();
  const events: [string, unknown][] = [];
  let buffer = '';
  let started = false;
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const [eventLine = '', dataLine = ''] = buffer.slice(0, end).split('\n');
      buffer = buffer.slice(end + 2);
      events.push([eventLine.slice(7), JSON.parse(dataLine.slice(6))]);
    }
    if (!started && events.length > 0) {
      started = true;
      during?.();
    }
  }
  controller.abort();
  return events;
}

describe('the page files', () => {
  it('serves the page, its stylesheet and modules with a CSP that allows only this server', async () => {
    const dev = await start();
    const page = await call(dev, 'GET', '/ui/');
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8']);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(page.text).toContain('<script type="module" src="js/main.js"></script>');
    for (const file of [
      'app.css',
      'js/main.js',
      'js/api.js',
      'js/kv.js',
      'js/live.js',
      'js/services.js',
      'js/faults.js',
      'js/util.js',
    ]) {
      const asset = await call(dev, 'GET', `/ui/${file}`);
      expect([file, asset.status]).toEqual([file, 200]);
    }
    // No file of the page names another origin.
    expect(page.text).not.toMatch(/https?:\/\//);
    const redirect = await call(dev, 'GET', '/ui');
    expect([redirect.status, redirect.headers.get('location')]).toEqual([301, '/ui/']);
    expect((await call(dev, 'GET', '/ui/nope.js')).status).toBe(404);
    expect((await call(dev, 'POST', '/ui/')).status).toBe(405);
  });

  it('does not count page requests as Consul requests', async () => {
    const dev = await start();
    await call(dev, 'GET', '/ui/');
    await call(dev, 'GET', '/ui/api/state');
    expect(dev.stats().requests).toBe(0);
  });

  it('ships browser modules that parse', async () => {
    const { PAGE_JS } = await import('../../../src/devserver/ui/page-js.js');
    const vm = await import('node:vm');
    for (const [name, source] of Object.entries(PAGE_JS)) {
      // Import lines aside, each module is a plain script body.
      const body = source.replace(/^import .*$/gm, '').replace(/^export /gm, '');
      expect(() => new vm.Script(`(async () => {${body}\n})`, { filename: name }), name).not.toThrow();
    }
  });
});

describe('/ui/api with ACLs on', () => {
  it('takes the management token from a header only', async () => {
    const dev = await start({ aclToken: 'root' });
    expect((await call(dev, 'GET', '/ui/api/info')).text).toBe('{"acl":true}');
    expect(await call(dev, 'GET', '/ui/api/state')).toMatchObject({ status: 403, text: 'Permission denied' });
    expect(await call(dev, 'GET', '/ui/api/state', { headers: { 'X-Consul-Token': 'other' } })).toMatchObject(
      { status: 403, text: 'ACL not found' },
    );
    expect(await call(dev, 'GET', '/ui/api/state?token=root')).toMatchObject({
      status: 400,
      text: 'the /ui/api endpoints take the token in the X-Consul-Token header, never in the URL',
    });
    expect((await call(dev, 'GET', '/ui/api/events')).status).toBe(403);
    expect((await call(dev, 'POST', '/ui/api/faults', { body: '{"kind":"hang"}' })).status).toBe(403);
    expect(dev.faults.pending()).toBe(0);
    const ok = await call(dev, 'GET', '/ui/api/state', { headers: { 'X-Consul-Token': 'root' } });
    expect(ok.status).toBe(200);
    const bearer = await call(dev, 'GET', '/ui/api/faults', { headers: { Authorization: 'Bearer root' } });
    expect([bearer.status, bearer.text]).toEqual([200, '[]']);
  });
});

describe('/ui/api/state', () => {
  it('lists held queries by key and prefix, and the locks sessions hold', async () => {
    const dev = await start({ seed: { 'config/a': '1' } });
    const index = dev.kv.index();
    const held = [
      fetch(`${dev.address}/v1/kv/config/?recurse&index=${index}`),
      fetch(`${dev.address}/v1/kv/config/?recurse&index=${index}`),
      fetch(`${dev.address}/v1/kv/config/a?index=${index}`),
    ];
    while (dev.stats().blockingHeld < 3) await new Promise((resolve) => setTimeout(resolve, 2));
    const session = JSON.parse(
      (await call(dev, 'PUT', '/v1/session/create', { body: '{"Name":"leader"}' })).text,
    );
    expect((await call(dev, 'PUT', `/v1/kv/locks/leader?acquire=${session.ID}`)).text).toBe('true');
    const state = JSON.parse((await call(dev, 'GET', '/ui/api/state')).text);
    expect(state.waiters.kv).toEqual([
      { kind: 'prefix', path: 'config/', count: 2 },
      { kind: 'key', path: 'config/a', count: 1 },
    ]);
    expect(state.waiters.catalog).toEqual([]);
    expect(state.locks).toEqual([{ key: 'locks/leader', session: session.ID, sessionName: 'leader' }]);
    expect([state.leader, state.index]).toEqual([true, dev.kv.index()]);
    dev.kv.put('config/a', '2');
    await Promise.all(held);
  });
});

describe('/ui/api/events', () => {
  it('streams hello, then each write with the queries it woke', async () => {
    const dev = await start();
    const index = dev.kv.index();
    const query = fetch(`${dev.address}/v1/kv/app/?recurse&index=${index}`);
    while (dev.stats().blockingHeld < 1) await new Promise((resolve) => setTimeout(resolve, 2));
    const events = await readEvents(dev, 3, {}, () => {
      dev.kv.put('app/x', 'hi');
      dev.kv.delete('app/x');
    });
    await query;
    expect(events.map(([name]) => name)).toEqual(['hello', 'kv', 'kv']);
    expect(events[1]?.[1]).toMatchObject({
      changes: [{ key: 'app/x', op: 'create', value: 'aGk=' }],
      woken: 1,
      held: 0,
    });
    expect(events[2]?.[1]).toMatchObject({ changes: [{ key: 'app/x', op: 'delete' }], woken: 0 });
  });
});

describe('/ui/api/faults', () => {
  it('adds, lists and removes rules; a timed rule ends on the server clock', async () => {
    const clock = new ManualClock();
    const dev = await start({ clock });
    const add = (body: unknown) =>
      call(dev, 'POST', '/ui/api/faults', {
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json' },
      });
    // A cross-site form or text/plain fetch needs no preflight, so it is refused.
    expect(
      await call(dev, 'POST', '/ui/api/faults', {
        body: '{"kind":"hang"}',
        headers: { 'Content-Type': 'text/plain' },
      }),
    ).toMatchObject({ status: 415, text: 'POST /ui/api/faults takes Content-Type: application/json' });
    const first = JSON.parse(
      (await add({ kind: 'status', status: 500, times: 2, keyPrefix: 'config/' })).text,
    );
    expect(first).toEqual({
      id: first.id,
      kind: 'status',
      label: 'status 500 on GET config/*',
      remaining: 2,
    });
    const timed = JSON.parse((await add({ kind: 'hang', forMs: 30_000, method: 'PUT' })).text);
    expect(timed).toEqual({
      id: timed.id,
      kind: 'hang',
      label: 'hang on PUT any key',
      remaining: 'inf',
      endsAtMs: 30_000,
    });
    expect((await call(dev, 'GET', '/v1/kv/other')).status).toBe(404); // outside the prefix
    expect((await call(dev, 'GET', '/v1/kv/config/x')).status).toBe(500);
    const listed = JSON.parse((await call(dev, 'GET', '/ui/api/faults')).text);
    expect(listed.map((fault: { remaining: unknown }) => fault.remaining)).toEqual([1, 'inf']);
    clock.advance(30_000);
    expect(dev.faults.pending()).toBe(1);
    const removed = await call(dev, 'DELETE', `/ui/api/faults/${first.id}`);
    expect([removed.status, removed.text]).toEqual([200, '[]']);
    expect((await call(dev, 'DELETE', `/ui/api/faults/${first.id}`)).status).toBe(404);
    expect(await add({ kind: 'status' })).toMatchObject({
      status: 400,
      text: 'status needs a number, e.g. 500',
    });
    expect(await add({ kind: 'status', status: 5 })).toMatchObject({
      status: 400,
      text: 'fault status must be an HTTP status code (100-999), got 5',
    });
    expect((await add({ kind: 'no-leader', durationMs: 5_000 })).status).toBe(200);
    expect((await call(dev, 'DELETE', '/ui/api/faults')).text).toBe('[]');
    expect(dev.faults.pending()).toBe(0);
  });

  it('lists rules from --chaos and server.faults.inject too, and clears their timers on close', () => {
    const faults = new DevServerFaults();
    const clock = new ManualClock();
    const ui = new UiFaults(faults, clock);
    faults.inject({ fault: { kind: 'agent-restart' } });
    faults.inject({ fault: { kind: 'check-hang' }, match: { path: 'web-check' }, times: 3 });
    expect(ui.list().map(({ label, remaining }) => [label, remaining])).toEqual([
      ['agent-restart (next request)', 1],
      ['check-hang (web-check)', 3],
    ]);
    expect(ui.add({ kind: 'reset', forMs: 1_000 }).ok).toBe(true);
    ui.close();
    clock.advance(1_000);
    expect(faults.pending()).toBe(3); // the timer was stopped, so the rule stays
  });
});
