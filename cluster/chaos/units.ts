/**
 * The value formats of Chaos Mesh resources, read as Chaos Mesh reads them: Go durations
 * (`time.ParseDuration`), percentages as strings ("25"), `tc` rates ("1mbps"), stress-ng
 * sizes ("256MB"); and the Kubernetes quantities of a container's resource limits.
 * Each parser throws an Error whose message says what was expected.
 */

const DURATION_UNITS_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** A Go duration ("300ms", "1.5h", "2h45m") in milliseconds; negative durations are refused. */
export function parseDuration(text: string): number {
  if (typeof text !== 'string' || text.length === 0) throw new Error('must be a duration like "30s" (units ns, us, ms, s, m, h)');
  if (text === '0') return 0;
  let ms = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < text.length) {
    const at = DURATION_PART.lastIndex;
    const m = DURATION_PART.exec(text);
    if (!m || m.index !== at) throw new Error(`"${text}" is not a duration like "30s", "1m30s" or "250ms" (units ns, us, ms, s, m, h)`);
    ms += Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
  }
  return ms;
}

/** Chaos Mesh's latency and jitter pattern: one number and one unit ("100ms", "1.5s"). */
export function parseSimpleDuration(text: string): number {
  if (typeof text !== 'string' || !/^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$/.test(text)) {
    throw new Error(`"${text}" must be one number and a unit, like "100ms" (units ns, us, ms, s, m, h)`);
  }
  return parseDuration(text);
}

/** A percentage string ("25", "0.5") as a fraction from 0 to 1. */
export function parsePercent(text: string): number {
  if (typeof text !== 'string' || !/^\d+(\.\d+)?$/.test(text.trim())) throw new Error(`"${String(text)}" must be a percentage from 0 to 100 as a string, like "25"`);
  const n = Number(text);
  if (n > 100) throw new Error(`"${text}" must be a percentage from 0 to 100`);
  return n / 100;
}

// tc's units: SI multipliers; `bit` units count bits, `bps` units count bytes.
const RATE_UNITS: [string, number][] = [
  ['tbit', 1e12 / 8], ['gbit', 1e9 / 8], ['mbit', 1e6 / 8], ['kbit', 1e3 / 8],
  ['tbps', 1e12], ['gbps', 1e9], ['mbps', 1e6], ['kbps', 1e3], ['bps', 1], ['bit', 1 / 8],
];

/** A `tc` rate ("1mbps" = 1,000,000 bytes/s, "8mbit" = 1,000,000 bytes/s) in bytes per second. */
export function parseRate(text: string): number {
  const s = typeof text === 'string' ? text.trim().toLowerCase() : '';
  for (const [unit, bytes] of RATE_UNITS) {
    if (!s.endsWith(unit)) continue;
    const digits = s.slice(0, -unit.length).trim();
    if (!/^\d+$/.test(digits)) break;
    const rate = Number(digits) * bytes;
    if (rate <= 0) throw new Error(`rate "${text}" must be above zero`);
    return rate;
  }
  throw new Error(`"${String(text)}" must be an integer and a unit, like "1mbps" (bit, kbit, mbit, gbit, tbit; bps, kbps, mbps, gbps, tbps = bytes per second)`);
}

// stress-ng's size suffixes count in 1024s, with or without the "i".
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, kib: 1024, mb: 1024 ** 2, mib: 1024 ** 2, gb: 1024 ** 3, gib: 1024 ** 3, tb: 1024 ** 4, tib: 1024 ** 4 };

/**
 * A StressChaos memory size ("256MB", "1GiB", "512B") in bytes, or a percentage of the
 * memory there is ("25%") as `{ percent }`.
 */
export function parseStressSize(text: string): { bytes: number } | { percent: number } {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%|[a-z]*)\s*$/i.exec(typeof text === 'string' ? text : '');
  const unit = m?.[2]?.toLowerCase() ?? '';
  if (m && unit === '%') {
    const percent = Number(m[1]);
    if (percent <= 0 || percent > 100) throw new Error(`size "${text}" must be a percentage above 0 and at most 100`);
    return { percent };
  }
  const factor = m ? SIZE_UNITS[unit || 'b'] : undefined;
  if (!m || factor === undefined) throw new Error(`size "${String(text)}" must be a number and a unit (B, KB/KiB, MB/MiB, GB/GiB, TB/TiB) or a percentage ("25%")`);
  const bytes = Math.round(Number(m[1]) * factor);
  if (bytes <= 0) throw new Error(`size "${text}" must be above zero`);
  return { bytes };
}

/** A Kubernetes CPU quantity ("500m", "2", "0.5") in millicores. */
export function parseCpuQuantity(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(String(text).trim());
  if (!m) throw new Error(`CPU quantity "${String(text)}" must be cores ("2", "0.5") or millicores ("500m")`);
  return Math.round(m[2] ? Number(m[1]) : Number(m[1]) * 1000);
}

const MEMORY_QUANTITY_UNITS: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4,
};

/** A Kubernetes memory quantity ("512Mi", "2Gi", "1G", "1000") in bytes. */
export function parseMemoryQuantity(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(text).trim());
  if (!m) throw new Error(`memory quantity "${String(text)}" must be a number with an optional suffix (Ki, Mi, Gi, Ti, k, M, G, T)`);
  return Math.round(Number(m[1]) * MEMORY_QUANTITY_UNITS[m[2] ?? '']!);
}
