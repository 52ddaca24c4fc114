import { describe, expect, it } from 'vitest';
import { rssTrends } from '../../suites/lib/memory.ts';
import { slope } from '../../suites/lib/stats.ts';
import type { RangeSeries } from '../../lib/prometheus.ts';

const MB = 1024 * 1024;
const minute = (m: number) => m * 60_000;

describe('slope: least squares over time', () => {
  it('is the line\'s gradient through exact points, and ignores a sawtooth around a flat line', () => {
    expect(slope([0, 1, 2, 3].map((m) => ({ at: minute(m), value: 100 + 4 * m })))).toBeCloseTo(4 / 60_000, 12);
    // GC's sawtooth: up 3, down 3, over and over, no growth.
    const saw = Array.from({ length: 61 }, (_, i) => ({ at: i * 1000, value: 100 + (i % 2 === 0 ? 0 : 3) }));
    expect(Math.abs(slope(saw) * 60_000)).toBeLessThan(0.1);
  });

  it('is NaN with fewer than two points or one instant', () => {
    expect(slope([])).toBeNaN();
    expect(slope([{ at: 5, value: 1 }])).toBeNaN();
    expect(slope([{ at: 5, value: 1 }, { at: 5, value: 9 }])).toBeNaN();
  });
});

describe('rssTrends: a trend per pod from Prometheus\'s range answer', () => {
  it('names each pod by its pod label, or the manifests\' kubernetes_pod, and gives MB per minute', async () => {
    const grow = (mbPerMin: number) => [0, 1, 2].map((m) => ({ at: minute(m), value: (50 + mbPerMin * m) * MB }));
    const prom = {
      queryRange: async (query: string): Promise<RangeSeries[]> => {
        expect(query).toBe('process_resident_memory_bytes');
        return [
          { metric: { job: 'db-node', pod: 'percolate-db-small-0' }, points: grow(6) },
          { metric: { job: 'percolate-db', kubernetes_pod: 'percolate-db-medium-0' }, points: grow(0) },
          { metric: { job: 'worker', instance: '10.0.0.9:8080' }, points: [] },
        ];
      },
    };
    const trends = await rssTrends(prom, { start: 0, end: minute(2), stepSeconds: 60 });
    expect(trends.map((t) => [t.pod, Number(t.slopeMBPerMin.toFixed(6)), t.firstMB, t.lastMB])).toEqual([
      ['percolate-db-medium-0', 0, 50, 50],
      ['percolate-db-small-0', 6, 50, 62],
    ]);
  });
});
