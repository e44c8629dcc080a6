/**
 * What the commands that talk to Consul (all but `dev`) share about output: the streams they write to, the
 * exit codes, and how a failure becomes one `error: <message>` line on stderr.
 * @module
 */
import type { ConsulErrorCode } from '../errors.js';
import { isConsulError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * Where a command writes and what it reads from its process. The dispatcher's `CliIo` (`stdout`, `stderr`)
 * is one; tests add their own `env` and `signal`.
 */
export interface CommandIo {
  /** Writes text to standard output. */
  stdout(text: string): void;
  /** Writes text to standard error. */
  stderr(text: string): void;
  /**
   * The environment `CONSUL_*` variables are read from.
   * @default process.env
   */
  env?: Record<string, string | undefined>;
  /**
   * Stops a running command (`watch` ends cleanly when it fires).
   * @default for `watch`, the process's SIGINT and SIGTERM; the other commands are not stopped
   */
  signal?: AbortSignal;
}

/** Exit codes of the commands that talk to Consul (all but `dev`). */
export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** Bad input (unknown flag, missing argument, bad key, unreadable file), or a negative answer. */
  failed: 1,
  /** Consul could not be reached or refused the request. */
  consul: 2,
} as const;

/** The exit-code section every command's `--help` ends with. */
export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  bad input (unknown flag, missing argument, invalid key, unreadable file) or a negative
     answer (missing key, failed check-and-set, invalid config)
  2  Consul unreachable, too slow (--timeout) or refusing the request (ACL, datacenter, 4xx/5xx),
     or the address is not a Consul agent
`;

/** A command line the command cannot run: unknown flag, missing argument, bad option value. Exit code 1. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The address answers, but not as a Consul agent (see src/cli/agent-check.ts). Exit code 2, like Consul
 * being unreachable.
 */
export class AgentError extends Error {
  override name = 'AgentError';
}

/**
 * Error codes that mean the input was wrong (or the command was stopped), not that Consul failed. A
 * request Consul refused because of what it held or of who asked (403, 400, 5xx) is Consul's answer.
 */
const INPUT_CODES: ReadonlySet<ConsulErrorCode> = new Set<ConsulErrorCode>([
  'CONSUL_INVALID_ARGUMENT',
  'CONSUL_CONFIG_INVALID',
  'CONSUL_VALUE_TOO_LARGE',
  'CONSUL_TXN_TOO_LARGE',
  'CONSUL_CONFIG_VALIDATION',
  'CONSUL_ABORTED',
  'CONSUL_CLOSED',
]);

/**
 * The exit code for an error: 2 when Consul was unreachable or refused, or the address is not Consul's; 1
 * for everything else.
 */
export function exitCodeFor(error: unknown): number {
  if (error instanceof AgentError) return EXIT.consul;
  return isConsulError(error) && !INPUT_CODES.has(error.code) ? EXIT.consul : EXIT.failed;
}

/**
 * Prints `error: <message>` on stderr and returns the exit code for it. A usage error also points at the
 * command's `--help`. Messages come from this library's errors, which never hold the ACL token.
 */
export function printError(io: CommandIo, command: string, error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  io.stderr(`error: ${message}\n`);
  if (error instanceof UsageError) io.stderr(`Run "consul-hotreload ${command} --help" for usage.\n`);
  return exitCodeFor(error);
}

/**
 * A logger that prints warnings and errors on stderr as `warning: <message>` / `error: <message>` lines; the
 * structured object is dropped (its fields are already in the message). Debug and info are silent.
 */
export function stderrLogger(io: CommandIo): Logger {
  return {
    warn: (_obj, msg) => io.stderr(`warning: ${msg ?? ''}\n`),
    error: (_obj, msg) => io.stderr(`error: ${msg ?? ''}\n`),
  };
}
