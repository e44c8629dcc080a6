/**
 * What a bench section returns, and how it is printed: plain-text tables with aligned columns, then one
 * row per target with PASS/MISS at full scale. Smoke sizes are too small to judge a target (a 10-key
 * prefix says nothing about 10,000), so a smoke run prints the figures without verdicts. Results are data
 * first (the smoke test asserts their shape), text second.
 * @module
 */

/** The bench sections, in the order they run. */
export type SectionId = 'latency' | 'cpu' | 'connections' | 'requests' | 'heap' | 'devserver' | 'discovery';

/** How big a run is: `full` is what docs/benchmarks.md records, `smoke` proves the code works in seconds. */
export type Scale = 'full' | 'smoke';

/** A table of measurements; the first column names the row. */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

/** One target from the brief and whether this run met it. */
export interface Check {
  /** What is compared, e.g. `CPU per change vs consul npm watch + diff`. */
  readonly name: string;
  /** The target, e.g. `<= 0.75x`. */
  readonly target: string;
  /** What was measured, e.g. `0.41x (3.1 ms vs 7.6 ms)`. */
  readonly measured: string;
  readonly pass: boolean;
}

/** Everything one section measured. */
export interface SectionResult {
  readonly id: SectionId;
  readonly title: string;
  readonly tables: readonly Table[];
  readonly checks: readonly Check[];
  /** How it was measured and what to keep in mind when reading it. */
  readonly notes: readonly string[];
  /** The raw numbers behind the tables, by name (ms, bytes, counts), for docs and tests. */
  readonly values: Readonly<Record<string, number>>;
}

/** Milliseconds, with µs below 1 ms. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(0)} ms`;
}

/** Bytes as B, KiB or MiB. */
export function formatBytes(bytes: number): string {
  const abs = Math.abs(bytes);
  if (abs < 1024) return `${bytes.toFixed(0)} B`;
  if (abs < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/** A count with thousands separators. */
export function formatCount(count: number): string {
  return Math.round(count).toLocaleString('en-US');
}

/** A rate with one decimal. */
export function formatRate(perMinute: number): string {
  return perMinute >= 100 ? formatCount(perMinute) : perMinute.toFixed(1);
}

/** `a / b` as `0.42x`; `n/a` when `b` is 0. */
export function formatRatio(a: number, b: number): string {
  if (b === 0 || !Number.isFinite(a / b)) return 'n/a';
  const ratio = a / b;
  return ratio >= 100 ? `${ratio.toFixed(0)}x` : `${ratio.toFixed(2)}x`;
}

/** Renders a table: first column left-aligned, the others right-aligned. */
export function renderTable(table: Table): string {
  const all = [table.columns, ...table.rows];
  const widths = table.columns.map((_, column) => Math.max(...all.map((row) => (row[column] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [table.title, line(table.columns), rule, ...table.rows.map(line)].join('\n');
}

/** Said once at the top of a smoke run, whose targets get no verdict. */
export const SMOKE_NOTE = 'smoke run: figures only (targets are judged at full size: npm run bench)';

/** The checks as a table; a verdict column (PASS/MISS) only at full scale. */
export function checksTable(checks: readonly Check[], scale: Scale = 'full'): Table {
  if (scale === 'smoke') {
    return {
      title: 'Targets',
      columns: ['', 'target', 'measured'],
      rows: checks.map((check) => [check.name, check.target, check.measured]),
    };
  }
  return {
    title: 'Targets',
    columns: ['', 'target', 'measured', 'verdict'],
    rows: checks.map((check) => [check.name, check.target, check.measured, check.pass ? 'PASS' : 'MISS']),
  };
}

/** A whole section as text; see {@link checksTable} for `scale`. */
export function renderSection(result: SectionResult, index: number, scale: Scale = 'full'): string {
  const parts = [`## ${index}. ${result.title}`];
  for (const table of result.tables) parts.push(renderTable(table));
  if (result.checks.length > 0) parts.push(renderTable(checksTable(result.checks, scale)));
  if (result.notes.length > 0) parts.push(result.notes.map((note) => `- ${note}`).join('\n'));
  return parts.join('\n\n');
}

/**
 * The last line of a run: how many targets were met and which were missed; at smoke scale only how many
 * were measured.
 */
export function summaryLine(checks: readonly Check[], scale: Scale, seconds: number): string {
  const time = ` (${seconds.toFixed(0)} s)`;
  if (scale === 'smoke') return `Summary: ${checks.length} targets measured${time}`;
  const missed = checks.filter((check) => !check.pass);
  return (
    `Summary: ${checks.length - missed.length}/${checks.length} targets met` +
    (missed.length > 0 ? `; missed: ${missed.map((check) => check.name).join('; ')}` : '') +
    time
  );
}
