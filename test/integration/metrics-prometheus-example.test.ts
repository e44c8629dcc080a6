import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

/** Every instrument of docs/metrics.md, as the Prometheus exporter names it. */
const SERIES = [
  'consul_hotreload_requests_total',
  'consul_hotreload_changes_total',
  'consul_hotreload_spurious_wakeups_total',
  'consul_hotreload_index_resets_total',
  'consul_hotreload_bytes_received_total',
  'consul_hotreload_stale',
  'consul_hotreload_errors_total',
  'consul_hotreload_invalid_values_total',
  'consul_hotreload_blocking_query_duration',
];

describe('npm run example:prometheus', () => {
  it('prints a /metrics scrape holding every instrument, and exits by itself', async () => {
    const env = { ...process.env, CONSUL_HTTP_ADDR: '' };
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'examples/prometheus/main.ts', '--port', '0'],
      { env, timeout: 30_000 },
    );
    const series = new Set(
      stdout
        .split('\n')
        .filter((line) => line.startsWith('# TYPE consul_hotreload_'))
        .map((line) => line.split(' ')[2]),
    );
    expect([...series].sort()).toEqual([...SERIES].sort());
    const labels = 'key="config/app/",kind="prefix",consistency="default"';
    expect(stdout).toContain(`consul_hotreload_errors_total{${labels},code="CONSUL_SERVER_ERROR"`);
    expect(stdout).toContain(`consul_hotreload_invalid_values_total{${labels},`);
    expect(stdout).toMatch(/^consul_hotreload_blocking_query_duration_count\{[^}]*\} [1-9]/m);
    expect(stdout).toContain('error: CONSUL_SERVER_ERROR');
  });
});
