/**
 * Runs the bench sections in order, in one process (children only where the brief needs isolation), and
 * prints each as it finishes. `bench/main.ts` is the command line; the smoke test calls {@link run} with
 * `scale: 'smoke'`.
 * @module
 */
import { execSync } from 'node:child_process';
import os from 'node:os';
import type { LibrarySource } from './lib/library.js';
import {
  renderSection,
  type Scale,
  type SectionId,
  type SectionResult,
  SMOKE_NOTE,
  summaryLine,
} from './lib/report.js';
import { runConnections } from './sections/connections.js';
import { runCpu } from './sections/cpu.js';
import { runDevServer } from './sections/devserver.js';
import { runDiscovery } from './sections/discovery.js';
import { runHeap } from './sections/heap.js';
import { runLatency } from './sections/latency.js';
import { runRequests } from './sections/requests.js';

/** What a run passes every section besides its scale. */
export interface SectionOptions {
  /** Where consul-hotreload comes from, for the sections that can load its build (latency). */
  library?: LibrarySource | undefined;
}

/** Every section, in run order. */
export const SECTIONS: ReadonlyArray<{
  id: SectionId;
  run: (scale: Scale, options?: SectionOptions) => Promise<SectionResult>;
}> = [
  { id: 'latency', run: (scale, options) => runLatency(scale, { library: options?.library }) },
  { id: 'cpu', run: runCpu },
  { id: 'connections', run: runConnections },
  { id: 'requests', run: runRequests },
  { id: 'heap', run: runHeap },
  { id: 'devserver', run: runDevServer },
  { id: 'discovery', run: runDiscovery },
];

/** Options of {@link run}. */
export interface RunOptions {
  /** @default 'full' */
  scale?: Scale;
  /** Run only these sections. @default every section */
  only?: readonly SectionId[];
  /** Where text goes. @default console.log; pass a no-op to stay quiet */
  print?: (text: string) => void;
  /**
   * Where consul-hotreload comes from in the sections that can choose (latency).
   * @default each section's own: the compiled build at full scale, the source at smoke scale
   */
  library?: LibrarySource;
}

/** The machine the numbers come from. */
export function machineFacts(): string {
  let fdLimit = 'unknown';
  try {
    fdLimit = execSync('ulimit -n', { shell: '/bin/sh', encoding: 'utf8' }).trim();
  } catch {
    // Not a POSIX shell: leave it unknown.
  }
  const cpus = os.cpus();
  return [
    `Node ${process.version} on ${os.platform()} ${os.arch()}`,
    `${cpus.length} CPU cores (${cpus[0]?.model.trim() ?? 'unknown model'})`,
    `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, open-file limit ${fdLimit}`,
  ].join('; ');
}

/** Runs the chosen sections and returns their results. */
export async function run(options: RunOptions = {}): Promise<SectionResult[]> {
  const scale = options.scale ?? 'full';
  const print = options.print ?? ((text: string) => console.log(text));
  const chosen = SECTIONS.filter(
    (section) => options.only === undefined || options.only.includes(section.id),
  );
  const note = scale === 'smoke' ? `${SMOKE_NOTE}\n\n` : '';
  print(`# consul-hotreload bench (${scale})\n\n${note}${machineFacts()}\n`);
  const results: SectionResult[] = [];
  const started = performance.now();
  for (const section of chosen) {
    const sectionStarted = performance.now();
    const result = await section.run(scale, { library: options.library });
    results.push(result);
    const seconds = ((performance.now() - sectionStarted) / 1000).toFixed(1);
    print(`${renderSection(result, SECTIONS.indexOf(section) + 1, scale)}\n\n(${seconds} s)\n`);
  }
  const checks = results.flatMap((result) => result.checks);
  print(summaryLine(checks, scale, (performance.now() - started) / 1000));
  return results;
}
