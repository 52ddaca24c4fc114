/**
 * The value formats of Chaos Mesh resources, read as Chaos Mesh reads them: Go durations
 * (`time.ParseDuration`), percentages as strings ("25"), and `tc` rates ("1mbps").
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
