/**
 * A small field checker for untyped resources: collects every problem with the path of
 * its field (`spec.delay.latency: …`), refuses unknown fields as `kubectl apply`'s strict
 * field validation does, and hands back typed values.
 */
export type Json = Record<string, unknown>;

export class Check {
  readonly problems: string[] = [];

  fail(path: string, message: string): undefined {
    this.problems.push(`${path}: ${message}`);
    return undefined;
  }

  object(value: unknown, path: string, known?: readonly string[]): Json | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.fail(path, 'must be an object');
    const obj = value as Json;
    if (known) {
      const unknown = Object.keys(obj).filter((k) => !known.includes(k));
      if (unknown.length) this.fail(path, `unknown field(s) ${unknown.join(', ')} (known: ${known.join(', ')})`);
    }
    return obj;
  }

  string(obj: Json, key: string, path: string, required = false): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return required ? this.fail(`${path}.${key}`, 'is required') : undefined;
    if (typeof v !== 'string') return this.fail(`${path}.${key}`, `must be a string${typeof v === 'number' ? ` (quote it: "${v}")` : ''}`);
    return v;
  }

  /** A string parsed by `parse`, whose Error message becomes the problem. */
  parsed<T>(obj: Json, key: string, path: string, parse: (s: string) => T, required = false): T | undefined {
    const s = this.string(obj, key, path, required);
    if (s === undefined) return undefined;
    try {
      return parse(s);
    } catch (err) {
      return this.fail(`${path}.${key}`, err instanceof Error ? err.message : String(err));
    }
  }

  oneOf<T extends string>(obj: Json, key: string, path: string, allowed: readonly T[], required = false): T | undefined {
    const s = this.string(obj, key, path, required);
    if (s === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(s)) return this.fail(`${path}.${key}`, `"${s}" is not one of ${allowed.join(', ')}`);
    return s as T;
  }

  integer(obj: Json, key: string, path: string, min: number, required = false): number | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return required ? this.fail(`${path}.${key}`, 'is required') : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) return this.fail(`${path}.${key}`, `must be an integer of at least ${min}`);
    return v;
  }

  strings(obj: Json, key: string, path: string, required = false): string[] | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return required ? this.fail(`${path}.${key}`, 'is required') : undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return this.fail(`${path}.${key}`, 'must be a list of strings');
    return v as string[];
  }

  stringMap(obj: Json, key: string, path: string): Record<string, string> | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    const map = this.object(v, `${path}.${key}`);
    if (!map) return undefined;
    for (const [k, x] of Object.entries(map)) if (typeof x !== 'string') return this.fail(`${path}.${key}.${k}`, 'must be a string');
    return map as Record<string, string>;
  }
}

/** Drops undefined fields, so a checked object carries only what the file said. */
export function compact<T extends object>(obj: T): T {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as T;
}
