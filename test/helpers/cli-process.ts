/**
 * The real `consul-hotreload` bin in a child process (`node --import tsx src/cli/main.ts …`) for the CLI's
 * integration tests: its output as a shell sees it, an await for a line, its exit code; `killAll()` in an
 * `afterEach` ends what a failed test left running.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const children = new Set<ChildProcess>();

/** Kills every child still running (SIGKILL). */
export function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
}

/** The runner's environment without its CONSUL_* variables, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('CONSUL_')));
  return { ...env, ...extra };
}

export interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once stdout contains `text`. */
  untilStdout(text: string): Promise<void>;
  /** Resolves with the exit code (or the signal's name when killed by one). */
  exit: Promise<number | string>;
}

export function startCli(args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  let err = '';
  const waiters = new Set<{ text: string; resolve: () => void }>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const waiter of waiters) {
      if (out.includes(waiter.text)) {
        waiters.delete(waiter);
        waiter.resolve();
      }
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exit = once(child, 'close').then(([code, signal]: unknown[]) => {
    children.delete(child);
    return (code as number | null) ?? String(signal);
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    untilStdout: (text) =>
      out.includes(text) ? Promise.resolve() : new Promise((resolve) => waiters.add({ text, resolve })),
    exit,
  };
}

export async function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const cli = startCli(args, env);
  const code = await cli.exit;
  return { code, stdout: cli.stdout(), stderr: cli.stderr() };
}
