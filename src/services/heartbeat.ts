/**
 * The TTL heartbeat's timing and content: when the next pass is due (well inside the TTL, jittered) and
 * what it says (the app's health function, bounded in time, a throw counted as critical) (consul-semantics §S7).
 * @module
 */
import type { CheckStatus } from '../consul/agent.js';
import { errorText } from '../errors.js';
import type { HealthReport } from './registration-options.js';

/** The heartbeat runs every TTL/3, so two can be lost before the check expires. */
export const HEARTBEATS_PER_TTL = 3;
/** Each interval is shortened by up to this share, at random, so a fleet started together spreads out. */
export const HEARTBEAT_JITTER = 0.2;

/** The delay until the next heartbeat: TTL/3 minus up to a fifth of it, at random. */
export function heartbeatDelay(ttlMs: number, random: () => number): number {
  const interval = ttlMs / HEARTBEATS_PER_TTL;
  return Math.floor(interval * (1 - HEARTBEAT_JITTER * random()));
}

/** A health report with its output always set. */
export interface ResolvedHealthReport {
  status: CheckStatus;
  output: string;
}

/**
 * Runs the app's health function with a time bound. No function is `passing`; a throw, a rejection, a bad
 * answer or no answer within `timeoutMs` is `critical`, with the reason as output.
 */
export async function evaluateHealth(
  health: (() => HealthReport | Promise<HealthReport>) | undefined,
  timeoutMs: number,
): Promise<ResolvedHealthReport> {
  if (health === undefined) return { status: 'passing', output: '' };
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the health function gave no answer within ${Math.round(timeoutMs)} ms`)),
        timeoutMs,
      );
    });
    const report = await Promise.race([Promise.resolve().then(health), timeout]);
    return toReport(report);
  } catch (error) {
    return { status: 'critical', output: `health check failed: ${errorText(error, { firstLine: true })}` };
  } finally {
    clearTimeout(timer);
  }
}

function toReport(report: unknown): ResolvedHealthReport {
  const r = report as Partial<HealthReport> | null;
  const status = r?.status;
  if (
    typeof r !== 'object' ||
    r === null ||
    (status !== 'passing' && status !== 'warning' && status !== 'critical')
  ) {
    return {
      status: 'critical',
      output:
        "health check failed: the health function must return { status: 'passing' | 'warning' | 'critical' }",
    };
  }
  return { status, output: typeof r.output === 'string' ? r.output : '' };
}
