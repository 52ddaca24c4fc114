import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunModel } from './model.ts';

/** One run, as later runs' reports trend it: its key figures and its counts. */
export interface HistoryEntry {
  startTime: string;
  commit: string;
  target: string;
  profile: string;
  durationMs: number;
  counts: Record<string, number>;
  figures: Array<{ test: string; name: string; value: number; unit: string; target?: number; pass?: boolean }>;
}

/** The key of a figure across runs: the plan id of its test and its name. */
export const figureKey = (test: string, name: string) => `${test.match(/^T\d+\.\d+/)?.[0] ?? test} · ${name}`;

export function historyEntry(run: RunModel): HistoryEntry {
  const counts: Record<string, number> = {};
  for (const t of run.tests) counts[t.status] = (counts[t.status] ?? 0) + 1;
  return {
    startTime: run.meta.startTime, commit: run.meta.commit, target: run.meta.target, profile: run.meta.profile,
    durationMs: run.meta.durationMs, counts,
    figures: run.tests.flatMap((t) => t.figures.filter((f) => f.value !== null).map((f) => ({
      test: t.title, name: f.name, value: f.value!, unit: f.unit,
      ...(f.target ? { target: f.target.value } : {}), ...(f.pass !== undefined ? { pass: f.pass } : {}),
    }))),
  };
}

/** Writes this run's entry (named by its start time, so rebuilding a report replaces it) and reads all of them, oldest first. */
export function updateHistory(dir: string, run: RunModel): HistoryEntry[] {
  mkdirSync(dir, { recursive: true });
  const entry = historyEntry(run);
  writeFileSync(join(dir, `${entry.startTime.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(entry, null, 2)}\n`);
  return readHistory(dir);
}

export function readHistory(dir: string): HistoryEntry[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).flatMap((f) => {
    try {
      const e = JSON.parse(readFileSync(join(dir, f), 'utf8')) as HistoryEntry;
      return typeof e.startTime === 'string' && Array.isArray(e.figures) ? [e] : [];
    } catch {
      return [];
    }
  }).sort((a, b) => a.startTime.localeCompare(b.startTime));
}
