import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('hot-reloads every change on the embedded dev server, rejects the invalid one, and exits by itself', async () => {
    const env = { ...process.env, CONSUL_HTTP_ADDR: '' };
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/demo/main.ts', '--fast'], {
      env,
      timeout: 30_000,
    });
    const appLines = stdout.split('\n').filter((line) => line.startsWith('[app]'));
    expect(appLines).toEqual([
      '[app] started with: {"greeting":"hello","rateLimit":100,"features":{"newCheckout":false}}',
      '[app] reloaded (updated config/demo/greeting): {"greeting":"hello, world","rateLimit":100,"features":{"newCheckout":false}}',
      '[app] rejected an invalid change, still serving the last good config:',
      '[app] reloaded (updated config/demo/rateLimit): {"greeting":"hello, world","rateLimit":250,"features":{"newCheckout":false}}',
      '[app] reloaded (added config/demo/features/newCheckout): {"greeting":"hello, world","rateLimit":250,"features":{"newCheckout":true}}',
      '[app] reloaded (deleted config/demo/features/newCheckout): {"greeting":"hello, world","rateLimit":250,"features":{"newCheckout":false}}',
    ]);
    expect(stdout).toContain('  - config/demo/rateLimit at rateLimit: expected number (found "lots")');
    expect(stdout).toContain('[demo] done: every change arrived without a restart');
  });
});
