/**
 * The dev server's web page in a real headless Chromium (Debian's `chromium`, driven by playwright-core):
 * an edit in the page reaches a Watcher, an HTTP write reaches the page without a reload, a fault switched
 * on in the page fails the next request, a TTL check turns critical on the server's clock, a stale edit is
 * refused, and in ACL mode the token never appears in a URL. One screenshot per view goes to
 * test-results/ui/; `UPDATE_DOCS_SCREENSHOT=1` also rewrites docs/images/dev-server-ui.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DevServer, type DevServerOptions, startDevServer } from '../../src/devserver/server.js';
import type { ChangeEvent } from '../../src/watch/types.js';
import { Watcher } from '../../src/watch/watcher.js';
import { ManualClock } from '../helpers/manual-clock.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const IN_CI = process.env.CI === 'true';
/** The flags the machine's notes give for headless Chromium with no network but loopback. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SHOTS = fileURLToPath(new URL('../../test-results/ui/', import.meta.url));
const DOCS_SHOT = fileURLToPath(new URL('../../docs/images/dev-server-ui.png', import.meta.url));

if (!HAVE_CHROMIUM && !IN_CI) {
  console.warn(
    `test/e2e/ui.test.ts skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  );
}

describe.runIf(!HAVE_CHROMIUM && IN_CI)('web page prerequisites', () => {
  it('has Chromium installed (CI installs it in .ci/run)', () => {
    throw new Error(`no Chromium at ${CHROMIUM}: .ci/run must apt-get install chromium before npm test`);
  });
});

describe.runIf(HAVE_CHROMIUM)('the dev server web page in headless Chromium', () => {
  let browser: Browser;
  let server: DevServer | undefined;
  let watcher: Watcher | undefined;
  let pageErrors: string[] = [];
  /** Every URL the pages of the current test requested, from the first one on. */
  let requested: string[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // launch() gives each browser a fresh, empty profile directory of its own.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
  });

  afterEach(async () => {
    for (const context of browser.contexts()) await context.close();
    await watcher?.close();
    watcher = undefined;
    await server?.close();
    server = undefined;
    expect(pageErrors).toEqual([]);
    pageErrors = [];
    requested = [];
  });

  async function start(options: DevServerOptions = {}): Promise<DevServer> {
    server = await startDevServer({ port: 0, jitter: false, ...options });
    return server;
  }

  async function open(dev: DevServer, width = 1200): Promise<Page> {
    const context = await browser.newContext({ viewport: { width, height: 820 } });
    // A wait that fails names its locator, well before the test's own timeout.
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('request', (request) => requested.push(request.url()));
    page.on('console', (message) => {
      // Chromium logs every answer >= 400 as "Failed to load resource"; the tests check those answers themselves.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource'))
        pageErrors.push(message.text());
    });
    // The page must not reach anything but the dev server.
    await context.route(
      (url) => !url.href.startsWith(dev.address),
      (route) => {
        pageErrors.push(`request off the dev server: ${route.request().url()}`);
        return route.abort();
      },
    );
    await page.goto(`${dev.address}/ui/`);
    return page;
  }

  const live = (page: Page) => page.locator('body[data-stream=open]').waitFor();
  const shot = (page: Page, name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });

  it('edits a key from the keyboard and a Watcher gets the change', async () => {
    const dev = await start({ seed: { 'config/app/greeting': '"hello"', 'config/app/limit': 10 } });
    watcher = new Watcher({ address: dev.address, wait: '30s', minInterval: 0 });
    const sub = watcher.watch('config/app/', { format: 'json' });
    await expect(sub.ready).resolves.toEqual({ greeting: 'hello', limit: 10 });
    const page = await open(dev);
    await live(page);

    // The tree is usable without a mouse: focus it, open the folders, pick the key.
    await page.getByRole('treeitem', { name: 'config/' }).focus();
    await page.keyboard.press('ArrowRight'); // expand config/
    await page.keyboard.press('ArrowDown'); // app/
    await page.keyboard.press('ArrowRight'); // expand app/
    await page.keyboard.press('ArrowDown'); // greeting
    await page.keyboard.press('Enter');
    await expect(page.locator('#kv-title').textContent()).resolves.toBe('config/app/greeting');
    await expect(page.locator('#kv-format').textContent()).resolves.toBe('JSON');
    const before = dev.kv.get('config/app/greeting')?.modifyIndex;
    await expect(page.locator('#kv-modify-index').textContent()).resolves.toBe(String(before));

    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('textbox', { name: 'Value', exact: true }).fill('"bonjour"');
    const changed = new Promise<ChangeEvent<unknown>>((resolve) => sub.once('change', resolve));
    await page.getByRole('button', { name: 'Save' }).click();
    const event = await changed;
    expect(event.changes).toEqual([
      { key: 'config/app/greeting', type: 'updated', value: 'bonjour', previous: 'hello' },
    ]);
    expect(sub.current).toEqual({ greeting: 'bonjour', limit: 10 });
    await page.getByText('Saved config/app/greeting.').waitFor();
    const after = dev.kv.get('config/app/greeting')?.modifyIndex;
    await page.locator('#kv-modify-index', { hasText: String(after) }).waitFor();
    await shot(page, 'keys');
  });

  it('shows a write made through the HTTP API without a reload', async () => {
    const dev = await start({ seed: { 'config/app/greeting': 'hello' } });
    const page = await open(dev);
    let loads = 0;
    page.on('load', () => loads++);
    await live(page);
    await page.getByRole('tab', { name: 'Live changes' }).click();

    const put = await fetch(`${dev.address}/v1/kv/config/app/new-key`, { method: 'PUT', body: '{"a": 1}' });
    await expect(put.json()).resolves.toBe(true);
    const row = page.locator('#live-log li[data-key="config/app/new-key"]');
    await row.waitFor();
    await expect(row.locator('.ty').textContent()).resolves.toBe('create');
    await expect(row.locator('span').nth(1).textContent()).resolves.toBe(String(dev.kv.index()));

    // The filter hides other prefixes.
    await fetch(`${dev.address}/v1/kv/other/key`, { method: 'PUT', body: 'x' });
    await page.locator('#live-log li[data-key="other/key"]').waitFor();
    await page.getByLabel('Only keys starting with').fill('config/');
    await page.locator('#live-log li[data-key="other/key"]').waitFor({ state: 'hidden' });
    await shot(page, 'live');

    await page.getByRole('tab', { name: 'Keys' }).click();
    await page.getByRole('treeitem', { name: 'config/' }).click();
    await page.getByRole('treeitem', { name: 'app/' }).click();
    await page.getByRole('treeitem', { name: 'new-key', exact: true }).click();
    await expect(page.locator('#kv-view').textContent()).resolves.toBe('{\n  "a": 1\n}');
    expect(loads).toBe(0);
  });

  it('counts the blocking queries a write wakes', async () => {
    const dev = await start({ seed: { 'config/app/a': '1' } });
    const page = await open(dev);
    await live(page);
    await page.getByRole('tab', { name: 'Live changes' }).click();
    const index = dev.kv.index();
    const queries = [1, 2, 3].map(() => fetch(`${dev.address}/v1/kv/config/app/?recurse&index=${index}`));
    await page.getByRole('button', { name: 'Refresh' }).click();
    await expect.poll(() => dev.stats().blockingHeld).toBe(3);
    await page.getByRole('button', { name: 'Refresh' }).click();
    await page.locator('#held-table td', { hasText: 'config/app/' }).waitFor();
    await expect(page.locator('#held-table tr').last().textContent()).resolves.toBe('KV prefixconfig/app/3');
    dev.kv.put('config/app/a', '2');
    await Promise.all(queries);
    await page.locator('#live-woken', { hasText: '3' }).waitFor();
  });

  it('fails the next request after a fault is switched on in the page', async () => {
    const dev = await start({ seed: { 'config/app/greeting': 'hello' } });
    const page = await open(dev);
    await live(page);
    await page.getByRole('tab', { name: 'Faults' }).click();
    const toggle = page.getByRole('switch', { name: '500 Internal Server Error' });
    await toggle.click();
    await page.locator('#fault-status-500[aria-checked=true]').waitFor();
    await page.locator('#faults-active li', { hasText: 'status 500 on GET any key' }).waitFor();
    expect(dev.faults.pending()).toBe(1);
    await shot(page, 'faults');

    const failed = await fetch(`${dev.address}/v1/kv/config/app/greeting`);
    expect(failed.status).toBe(500);
    const next = await fetch(`${dev.address}/v1/kv/config/app/greeting`);
    expect(next.status).toBe(200);
    // The rule is used up: the page turns the switch off by itself.
    await page.locator('#fault-status-500[aria-checked=false]').waitFor();

    // A timed rule lasts on the server's clock and is turned off from the page.
    await page.locator('#fault-for-status-503').selectOption('inf');
    await page.getByRole('switch', { name: '503 Service Unavailable' }).click();
    await page.locator('#fault-status-503[aria-checked=true]').waitFor();
    expect((await fetch(`${dev.address}/v1/kv/config/app/greeting`)).status).toBe(503);
    expect((await fetch(`${dev.address}/v1/kv/config/app/greeting`)).status).toBe(503);
    await page.getByRole('switch', { name: '503 Service Unavailable' }).click();
    await page.locator('#fault-status-503[aria-checked=false]').waitFor();
    expect((await fetch(`${dev.address}/v1/kv/config/app/greeting`)).status).toBe(200);
    expect(dev.faults.pending()).toBe(0);
  });

  it('shows a TTL check turning critical on the server clock, and passes it from the page', async () => {
    const clock = new ManualClock();
    const dev = await start({ clock });
    const register = await fetch(`${dev.address}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({
        Name: 'web',
        ID: 'web-1',
        Port: 8080,
        Check: { CheckID: 'web-ttl', TTL: '10s' },
      }),
    });
    expect(register.status).toBe(200);
    const page = await open(dev);
    await live(page);
    await page.getByRole('tab', { name: 'Services' }).click();
    const status = page.locator('[data-check="web-ttl"] .badge');
    await page.locator('[data-check="web-ttl"] [data-status=critical]').waitFor();

    await page.getByRole('button', { name: /^pass / }).click();
    await page.locator('[data-check="web-ttl"] [data-status=passing]').waitFor();
    expect(dev.agent.checkStatus('web-ttl')).toBe('passing');

    clock.advance(10_001); // the TTL runs out on the server's clock
    expect(dev.agent.checkStatus('web-ttl')).toBe('critical');
    await page.locator('[data-check="web-ttl"] [data-status=critical]').waitFor();
    await expect(status.textContent()).resolves.toBe('critical');

    // Maintenance on adds the maintenance check, off removes it.
    await page.getByRole('switch', { name: 'Maintenance' }).click();
    await page.locator('[data-check="_service_maintenance:web-1"]').waitFor();
    await page.locator('[data-maintenance="web-1"][aria-checked=true]').waitFor();
    await shot(page, 'services');
    await page.getByRole('switch', { name: 'Maintenance' }).click();
    await page.locator('[data-check="_service_maintenance:web-1"]').waitFor({ state: 'detached' });
  });

  it('shows sessions and the keys they lock as they come and go', async () => {
    const dev = await start();
    const page = await open(dev);
    await live(page);
    await page.getByRole('tab', { name: 'Services' }).click();
    await page.getByText('No session.').waitFor();
    const created = await fetch(`${dev.address}/v1/session/create`, {
      method: 'PUT',
      body: '{"Name":"leader"}',
    });
    const { ID: id } = (await created.json()) as { ID: string };
    const row = page.locator('#sessions-table tr', { hasText: id });
    await row.waitFor();
    const acquired = await fetch(`${dev.address}/v1/kv/locks/leader?acquire=${id}`, {
      method: 'PUT',
      body: 'me',
    });
    await expect(acquired.json()).resolves.toBe(true);
    await row.locator('td', { hasText: 'locks/leader' }).waitFor();
    await fetch(`${dev.address}/v1/kv/locks/leader?release=${id}`, { method: 'PUT', body: 'me' });
    await row.locator('td:last-child', { hasText: 'none' }).waitFor();
    await fetch(`${dev.address}/v1/session/destroy/${id}`, { method: 'PUT' });
    await page.getByText('No session.').waitFor();
  });

  it('refuses a stale edit with a clear message and keeps the text', async () => {
    const dev = await start({ seed: { 'config/app/greeting': 'hello' } });
    const page = await open(dev);
    await live(page);
    await page.getByRole('treeitem', { name: 'config/' }).click();
    await page.getByRole('treeitem', { name: 'app/' }).click();
    await page.getByRole('treeitem', { name: 'greeting', exact: true }).click();
    const opened = dev.kv.get('config/app/greeting')?.modifyIndex;
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('textbox', { name: 'Value', exact: true }).fill('"mine"');

    const theirs = dev.kv.put('config/app/greeting', '"theirs"'); // someone else writes meanwhile
    await page.locator('#kv-cas-note', { hasText: 'changed at index' }).waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await page
      .getByText(
        `Not saved: config/app/greeting changed since you opened it (you edited ModifyIndex ${opened}; it is now at ModifyIndex ${theirs}).`,
      )
      .waitFor();
    expect(dev.kv.get('config/app/greeting')?.value?.toString()).toBe('"theirs"');
    await expect(page.getByRole('textbox', { name: 'Value', exact: true }).inputValue()).resolves.toBe(
      '"mine"',
    );
    await shot(page, 'stale-edit');

    // Saving again, knowingly, overwrites.
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved config/app/greeting.').waitFor();
    expect(dev.kv.get('config/app/greeting')?.value?.toString()).toBe('"mine"');
  });

  it('creates a key and deletes a folder after confirmation', async () => {
    const dev = await start({ seed: { 'old/a': '1', 'old/b/c': '2', keep: 'x' } });
    const page = await open(dev);
    await live(page);
    await page.getByRole('button', { name: 'New key' }).click();
    await page.getByLabel('Key', { exact: true }).fill('fresh/key');
    await page.getByRole('textbox', { name: 'Value', exact: true }).fill('a: 1\nb: two\n');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved fresh/key.').waitFor();
    await expect(page.locator('#kv-format').textContent()).resolves.toBe('YAML');
    expect(dev.kv.get('fresh/key')?.value?.toString()).toBe('a: 1\nb: two\n');

    await page.getByRole('button', { name: 'New key' }).click();
    await page.getByLabel('Key', { exact: true }).fill('keep');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Not created: keep exists already').waitFor();
    expect(dev.kv.get('keep')?.value?.toString()).toBe('x');
    await page.getByRole('button', { name: 'Cancel' }).click();

    await page.getByRole('treeitem', { name: 'old/' }).click();
    await page.getByRole('button', { name: 'Delete folder…' }).click();
    await page.getByText('Delete 2 keys under old/, recursively.').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    expect(dev.kv.get('old/a')).toBeDefined();
    await page.getByRole('button', { name: 'Delete folder…' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('Deleted 2 keys under old/.').waitFor();
    expect([dev.kv.get('old/a'), dev.kv.get('old/b/c'), dev.kv.get('keep')?.value?.toString()]).toEqual([
      undefined,
      undefined,
      'x',
    ]);
  });

  it('asks for the token in ACL mode and never puts it in a URL', async () => {
    const token = 'page-secret-7c1f';
    const dev = await start({ aclToken: token, seed: { 'config/app/greeting': 'hello' } });
    expect((await fetch(`${dev.address}/ui/api/state`)).status).toBe(403);
    expect((await fetch(`${dev.address}/ui/api/state?token=${token}`)).status).toBe(400);
    const page = await open(dev);
    const streamHeaders: Record<string, string>[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/ui/api/events')) streamHeaders.push(request.headers());
    });
    await page.getByLabel('ACL token').waitFor();
    await page.getByLabel('ACL token').fill('wrong-token');
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.getByText('The server refused the token (ACL not found).').waitFor();
    await page.getByLabel('ACL token').fill(token);
    await page.getByRole('button', { name: 'Use token' }).click();
    await live(page);

    // Use every view: a CAS write, the services reads, a fault.
    await page.getByRole('treeitem', { name: 'config/' }).click();
    await page.getByRole('treeitem', { name: 'app/' }).click();
    await page.getByRole('treeitem', { name: 'greeting', exact: true }).click();
    await page.getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('textbox', { name: 'Value', exact: true }).fill('"hi"');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Saved config/app/greeting.').waitFor();
    await page.getByRole('tab', { name: 'Services' }).click();
    await page.getByText('The cluster has a leader.').waitFor();
    await page.getByRole('tab', { name: 'Faults' }).click();
    await page.getByRole('switch', { name: 'Hang', exact: true }).click();
    await page.locator('#fault-hang[aria-checked=true]').waitFor();

    expect(requested.length).toBeGreaterThan(10);
    expect(requested.filter((url) => url.includes(token))).toEqual([]);
    expect(streamHeaders.at(-1)?.['x-consul-token']).toBe(token);
    expect(dev.kv.get('config/app/greeting')?.value?.toString()).toBe('"hi"');
  });

  it('fits a narrow window', async () => {
    const dev = await start({
      seed: { 'config/app/db/host': 'localhost', 'config/app/db/port': 5432, 'config/app/feature': true },
      services: [{ Name: 'web', ID: 'web-1', Port: 8080, Check: { TTL: '10s' } }],
    });
    const page = await open(dev, 390);
    await live(page);
    await page.getByRole('treeitem', { name: 'config/' }).click();
    await page.getByRole('treeitem', { name: 'app/' }).click();
    await page.getByRole('treeitem', { name: 'feature', exact: true }).click();
    for (const tab of ['Keys', 'Live changes', 'Services', 'Faults']) {
      await page.getByRole('tab', { name: tab }).click();
      const overflow = await page.locator('html').evaluate((html) => html.scrollWidth);
      expect(overflow, `the ${tab} view is wider than the window`).toBeLessThanOrEqual(390);
    }
    await page.getByRole('tab', { name: 'Keys' }).click();
    await shot(page, 'narrow-keys');
  });

  it.runIf(process.env.UPDATE_DOCS_SCREENSHOT === '1')('renders the screenshot for the docs', async () => {
    const dev = await start({
      seed: {
        'config/app/db/host': 'db.internal',
        'config/app/db/port': 5432,
        'config/app/features': { newCheckout: true, rolloutPercent: 25 },
        'config/app/greeting': 'hello',
        'flags/new-ui': true,
      },
      services: [{ Name: 'web', ID: 'web-1', Port: 8080, Check: { TTL: '10s' } }],
    });
    const page = await open(dev, 1100);
    await live(page);
    await page.getByRole('treeitem', { name: 'config/' }).click();
    await page.getByRole('treeitem', { name: 'app/' }).click();
    await page.getByRole('treeitem', { name: 'features', exact: true }).click();
    dev.kv.put('config/app/greeting', '"bonjour"');
    await page.locator('#sum-index', { hasText: String(dev.kv.index()) }).waitFor();
    await page.screenshot({ path: DOCS_SHOT });
  });
});
