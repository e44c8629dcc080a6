/**
 * How bench results are printed (bench/lib/report.ts): verdicts at full scale, figures only at smoke scale.
 */
import { describe, expect, it } from 'vitest';
import {
  type Check,
  renderSection,
  type SectionResult,
  SMOKE_NOTE,
  summaryLine,
} from '../../../../bench/lib/report.js';

const CHECKS: Check[] = [
  { name: 'CPU per change', target: '<= 0.75x', measured: '0.41x', pass: true },
  { name: 'heap per key', target: '<= 1.0x', measured: '1.30x', pass: false },
];

const RESULT: SectionResult = {
  id: 'cpu',
  title: 'CPU',
  tables: [],
  checks: CHECKS,
  notes: [],
  values: {},
};

describe('bench report', () => {
  it('judges every target with PASS or MISS at full scale', () => {
    expect(renderSection(RESULT, 2)).toBe(
      [
        '## 2. CPU',
        '',
        'Targets',
        '                  target  measured  verdict',
        '--------------  --------  --------  -------',
        'CPU per change  <= 0.75x     0.41x     PASS',
        'heap per key     <= 1.0x     1.30x     MISS',
      ].join('\n'),
    );
    expect(summaryLine(CHECKS, 'full', 12.3)).toBe('Summary: 1/2 targets met; missed: heap per key (12 s)');
  });

  it('prints the figures without verdicts at smoke scale', () => {
    expect(renderSection(RESULT, 2, 'smoke')).toBe(
      [
        '## 2. CPU',
        '',
        'Targets',
        '                  target  measured',
        '--------------  --------  --------',
        'CPU per change  <= 0.75x     0.41x',
        'heap per key     <= 1.0x     1.30x',
      ].join('\n'),
    );
    expect(summaryLine(CHECKS, 'smoke', 3)).toBe('Summary: 2 targets measured (3 s)');
    expect(SMOKE_NOTE).toBe('smoke run: figures only (targets are judged at full size: npm run bench)');
  });
});
