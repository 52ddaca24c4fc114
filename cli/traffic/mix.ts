import { InvalidArgumentError } from 'commander';

/**
 * The mixed traffic of one simulated tenant: reads of its own resources, searches, writes,
 * entity merges and moments, drawn by weight. Every id and every text is stamped with the
 * run id, so a run's data can be told apart from any other run's (and searched for).
 */
export const OPERATIONS = ['read', 'search', 'write', 'entity', 'moment'] as const;
export type Operation = (typeof OPERATIONS)[number];
export type Mix = Record<Operation, number>;

/** Reads dominate, as for a database behind an application; writes are a third. */
export const DEFAULT_MIX: Mix = { read: 40, search: 20, write: 15, entity: 15, moment: 10 };

export interface PlannedRequest {
  op: Operation;
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  json?: unknown;
}

const WORDS = ['invoice', 'contract', 'meeting', 'roadmap', 'incident', 'budget', 'design', 'release'];
/** Reads pick among this many of the newest written ids: a warm working set. */
const READ_WINDOW = 200;
const ENTITIES = 10;

export class TenantTraffic {
  private readonly written: string[] = [];
  private writes = 0;
  private readonly cumulative: Array<[Operation, number]>;
  private readonly total: number;

  constructor(readonly tenant: string, readonly runId: string, mix: Mix = DEFAULT_MIX, private readonly random: () => number = Math.random) {
    let sum = 0;
    this.cumulative = OPERATIONS.filter((op) => mix[op] > 0).map((op) => [op, (sum += mix[op])]);
    this.total = sum;
    if (this.total <= 0) throw new Error('the traffic mix has no operation with a weight above 0');
  }

  /** The i-th request. A read before any write has succeeded becomes a write. */
  next(i: number): PlannedRequest {
    const draw = this.random() * this.total;
    let op = this.cumulative.find(([, upTo]) => draw < upTo)?.[0] ?? this.cumulative[this.cumulative.length - 1]![0];
    if (op === 'read' && this.written.length === 0) op = 'write';
    const word = WORDS[i % WORDS.length]!;
    switch (op) {
      case 'read': {
        const id = this.written[Math.floor(this.random() * this.written.length)]!;
        return { op, method: 'GET', path: `/api/v1/resources/${id}` };
      }
      case 'search':
        return { op, method: 'GET', path: `/api/v1/resources?query=${encodeURIComponent(`${word} ${this.runId}`)}&limit=10` };
      case 'write': {
        const id = `${this.runId}-r${this.writes++}`;
        return {
          op, method: 'POST', path: '/api/v1/resources',
          json: { id, title: `${word} ${i} (${this.runId})`, content: `Simulated ${word} note ${i} of ${this.tenant}, run ${this.runId}.`, tags: [this.runId, word] },
        };
      }
      case 'entity':
        return { op, method: 'PUT', path: `/api/v1/entities/${this.runId}-e${i % ENTITIES}`, json: { properties: { run: this.runId, seq: i, topic: word } } };
      case 'moment':
        return { op, method: 'POST', path: '/api/v1/moments', json: { kind: 'event', text: `${word} moment ${i} (${this.runId})` } };
    }
  }

  /** Feeds back an answer: acknowledged writes become readable ids. */
  settled(request: PlannedRequest, status: number): void {
    if (request.op !== 'write' || status !== 201) return;
    this.written.push((request.json as { id: string }).id);
    if (this.written.length > READ_WINDOW) this.written.shift();
  }
}

/** `read=50,write=50`: weights by operation; operations left out weigh 0. */
export function parseMix(raw: string): Mix {
  const mix: Mix = { read: 0, search: 0, write: 0, entity: 0, moment: 0 };
  for (const part of raw.split(',')) {
    const [name, value] = part.split('=').map((s) => s.trim());
    if (!OPERATIONS.includes(name as Operation)) throw new InvalidArgumentError(`unknown operation "${name}": one of ${OPERATIONS.join(', ')}`);
    const weight = Number(value);
    if (value === undefined || value === '' || !Number.isFinite(weight) || weight < 0) throw new InvalidArgumentError(`the weight of ${name} must be a number ≥ 0`);
    mix[name as Operation] = weight;
  }
  if (OPERATIONS.every((op) => mix[op] === 0)) throw new InvalidArgumentError('at least one operation needs a weight above 0');
  return mix;
}
