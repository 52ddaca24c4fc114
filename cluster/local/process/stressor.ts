import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/**
 * One stress worker of a local StressChaos (stress-ng's part on a cluster), started inside
 * the pod's cgroup (pod-stress.ts): it either keeps a CPU busy `--cpu-load` percent of each
 * 100 ms, or holds `--memory-bytes` of memory and keeps touching every page of it (so it
 * stays resident). It runs until killed.
 *
 *   node --import tsx stressor.ts (--cpu-load 0-100 | --memory-bytes N [--oom-score-adj -1000..1000])
 */
const { values } = parseArgs({
  options: {
    'cpu-load': { type: 'string' },
    'memory-bytes': { type: 'string' },
    'oom-score-adj': { type: 'string' },
  },
});

// stress-ng's --oom-score-adj: which process the kernel kills first when the cgroup runs out of memory.
if (values['oom-score-adj'] !== undefined) writeFileSync('/proc/self/oom_score_adj', values['oom-score-adj']);

const SLICE_MS = 100;
const PAGE = 4096;

function burn(untilMs: number): void {
  let x = 0;
  while (performance.now() < untilMs) x = (x * 1103515245 + 12345) >>> 0;
  if (x === -1) process.stdout.write('');
}

if (values['cpu-load'] !== undefined) {
  const load = Math.min(100, Math.max(0, Number(values['cpu-load'])));
  process.stdout.write(`stressor ${process.pid}: cpu ${load} %\n`);
  const busyMs = (SLICE_MS * load) / 100;
  const tick = () => {
    burn(performance.now() + busyMs);
    // The idle part of the slice (none at 100 %): a timer, so signals are handled between slices.
    setTimeout(tick, SLICE_MS - busyMs);
  };
  tick();
} else if (values['memory-bytes'] !== undefined) {
  const bytes = Number(values['memory-bytes']);
  const chunks: Buffer[] = [];
  const CHUNK = 16 * 1024 * 1024;
  for (let left = bytes; left > 0; left -= CHUNK) chunks.push(Buffer.alloc(Math.min(CHUNK, left), 1));
  process.stdout.write(`stressor ${process.pid}: holding ${bytes} bytes\n`);
  let round = 0;
  setInterval(() => {
    round = (round + 1) & 0xff;
    for (const chunk of chunks) for (let i = 0; i < chunk.length; i += PAGE) chunk[i] = round;
  }, 1_000);
} else {
  process.stderr.write('stressor: give --cpu-load or --memory-bytes\n');
  process.exit(2);
}
