import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '../shared/logger.ts';
import { SYNC_STREAM, publishDurably, syncSubject } from '../shared/nats.ts';
import { HttpError } from '../shared/errors.ts';
import type { DbMetrics } from './metrics.ts';
import { type HybridClock, type SyncMessage, wallMicros } from './records.ts';
import type { SyncSnapshot } from './snapshots.ts';
import type { TenantStores } from './tenant-stores.ts';

/** How often the consumer's progress is checked against the stream's end. */
const STALL_CHECK_MS = 2_000;
/** No message applied for this long while the stream is ahead: the consumer is stuck (5 pulls' `expires`). */
const STALL_MS = 10_000;

/** When the sync consumer counts as stuck (`stallMs` without an applied message while the stream is ahead), checked every `stallCheckMs`. */
export interface ProgressWatch {
  stallMs: number;
  stallCheckMs: number;
}

/**
 * The sync stream is the database's replication log. A write is acknowledged only once
 * JetStream has stored it; every node — the writer too — applies the whole stream, in
 * order, idempotently.
 */
export class Replicator {
  appliedSeq = 0;
  /** The stream's last sequence when this node started: readiness waits for it. */
  private catchUpTarget = 0;
  private seqWaiters: Array<{ seq: number; resolve: () => void }> = [];
  private resolveCaughtUp!: () => void;
  readonly caughtUp = new Promise<void>((resolve) => { this.resolveCaughtUp = () => { this.caughtUpNow = true; resolve(); }; });
  private caughtUpNow = false;
  private stopped = false;
  private stopConsuming: (() => Promise<void>) | undefined;
  /** Which consumer is current: one replaced by the watchdog applies nothing more. */
  private generation = 0;
  private watchdog: NodeJS.Timeout | undefined;
  private checking = false;
  private lastProgressAt = Date.now();

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly stores: TenantStores,
    private readonly clock: HybridClock,
    private readonly node: string,
    private readonly metrics: DbMetrics,
    private readonly logger: Logger,
    private readonly publishTimeoutMs: number,
    private readonly watch: ProgressWatch = { stallMs: STALL_MS, stallCheckMs: STALL_CHECK_MS },
  ) {}

  /** Stores the write in the sync stream (awaited), then applies it here. */
  async write(message: SyncMessage): Promise<number> {
    let seq: number;
    try {
      const ack = await publishDurably(this.js, syncSubject(message.tenant), JSON.stringify(message), {
        msgID: `${message.node}:${message.ts}`, timeoutMs: this.publishTimeoutMs,
      });
      seq = ack.seq;
    } catch (err) {
      throw new HttpError(503, 'replication_unavailable', 'the replication log did not store the write; it was not acknowledged', { 'Retry-After': '1' }, { cause: err });
    }
    await this.stores.apply(message.tenant, message.entries);
    return seq;
  }

  /**
   * Catches up: from `snapshot` when there is one (its state, then the stream after it),
   * else from the stream's first message. Readiness waits for the stream's end as it stood now.
   */
  async start(snapshot?: SyncSnapshot): Promise<void> {
    const { state } = await this.jsm.streams.info(SYNC_STREAM);
    this.catchUpTarget = state.last_seq;
    let from = 1;
    if (snapshot && snapshot.seq > state.last_seq) {
      // Taken of a stream that has since been made again: its sequences mean nothing here.
      this.logger.warn({ snapshotSeq: snapshot.seq, streamLastSeq: state.last_seq }, 'snapshot ahead of the sync stream: ignored, replaying the stream');
    } else if (snapshot) {
      const started = Date.now();
      let entries = 0;
      for (const [tenantId, tenantEntries] of Object.entries(snapshot.tenants)) {
        for (const entry of tenantEntries) this.clock.observe(entry.ts);
        await this.stores.apply(tenantId, tenantEntries);
        entries += tenantEntries.length;
      }
      from = snapshot.seq + 1;
      this.metrics.snapshotStartSeq.set(snapshot.seq);
      this.logger.info({ snapshotSeq: snapshot.seq, takenBy: snapshot.node, takenAt: snapshot.takenAt, entries, ms: Date.now() - started }, 'snapshot loaded');
    }
    if (state.messages > 0 && from < state.first_seq) {
      // Past the stream's max_age with no snapshot covering them: nothing can bring them back here.
      this.logger.error({ missingFrom: from, missingTo: state.first_seq - 1 }, 'sync stream messages no longer held and not in a snapshot: their writes are missing on this node');
    }
    this.logger.info({ fromSeq: from, catchUpTarget: this.catchUpTarget }, 'replaying sync stream');
    if (from > 1) this.advance(from - 1);
    if (this.catchUpTarget === 0) this.resolveCaughtUp();
    // The stall clock starts with the consumer, not with a snapshot's load before it.
    this.lastProgressAt = Date.now();
    await this.consumeFrom(Math.max(from, state.first_seq));
    this.watchdog = setInterval(() => { void this.checkProgress(); }, this.watch.stallCheckMs);
    this.watchdog.unref();
  }

  /** True once the replay at start reached where the stream stood (what readiness waits for). */
  isCaughtUp(): boolean { return this.caughtUpNow; }

  /**
   * An ordered consumer from `startSeq`: in order, no acks, and it re-creates itself after a
   * NATS restart. Short pulls: the server a pull waits on can die (one NATS server of three
   * lost); two missed heartbeats (half of `expires` each) and it is made again elsewhere.
   */
  private async consumeFrom(startSeq: number): Promise<void> {
    const generation = ++this.generation;
    const consumer = await this.js.consumers.get(SYNC_STREAM, startSeq <= 1
      ? { deliver_policy: DeliverPolicy.All }
      : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq });
    const messages = await consumer.consume({ max_messages: 512, expires: 2_000 });
    this.stopConsuming = async () => { await messages.close(); };
    void (async () => {
      for await (const note of messages.status()) {
        if (generation !== this.generation) break;
        if (note.type === 'heartbeats_missed' || note.type === 'reset' || note.type === 'ordered_consumer_recreated' || note.type.endsWith('not_found')) {
          this.logger.warn({ consumer: note }, 'sync consumer');
        }
      }
    })().catch(() => {});
    void (async () => {
      for await (const msg of messages) {
        // A consumer replaced by the watchdog may still hand over what it had buffered.
        if (generation !== this.generation) break;
        try {
          await this.applyMessage(msg.json<SyncMessage>());
        } catch (err) {
          this.logger.error({ err, seq: msg.seq }, 'sync message could not be applied');
        }
        this.metrics.streamMessagesApplied.inc();
        this.advance(msg.seq);
      }
    })().catch((err) => { if (!this.stopped && generation === this.generation) this.logger.error({ err }, 'sync consumer stopped'); });
  }

  /**
   * The ordered consumer can stall for good after NATS lost quorum (seen in T6.4: a node
   * stuck at one sequence while the stream went on for minutes, no error raised): when the
   * stream is ahead and nothing was applied for `stallMs` (10 s), it is replaced by one that starts
   * after the last sequence applied. While NATS cannot say where the stream ends, nothing is
   * judged.
   */
  private async checkProgress(): Promise<void> {
    // One check at a time: a look-up that hangs while NATS has no quorum must not let the
    // checks queued behind it each replace the consumer once it answers.
    if (this.stopped || this.checking) return;
    this.checking = true;
    try {
      await this.replaceIfStalled();
    } finally {
      this.checking = false;
    }
  }

  private async replaceIfStalled(): Promise<void> {
    let streamLastSeq: number;
    try {
      streamLastSeq = await this.readIndex();
    } catch {
      return;
    }
    if (streamLastSeq <= this.appliedSeq) {
      this.lastProgressAt = Date.now();
      return;
    }
    if (Date.now() - this.lastProgressAt < this.watch.stallMs) return;
    const from = this.appliedSeq + 1;
    this.logger.warn({ appliedSeq: this.appliedSeq, streamLastSeq, stalledMs: Date.now() - this.lastProgressAt }, 'sync consumer stalled: consuming again from the next sequence');
    try {
      const previous = this.stopConsuming;
      this.generation += 1;
      await previous?.().catch(() => {});
      if (!this.stopped) await this.consumeFrom(from);
      this.lastProgressAt = Date.now();
    } catch (err) {
      // NATS went away again: the next check tries again.
      this.logger.warn({ err }, 'sync consumer could not be made again');
    }
  }

  /** Resolves once this node has applied the stream up to its current end (read-your-writes barrier). */
  async barrier(timeoutMs: number): Promise<{ appliedSeq: number; streamLastSeq: number; caughtUp: boolean }> {
    let streamLastSeq: number;
    try {
      streamLastSeq = (await this.jsm.streams.info(SYNC_STREAM)).state.last_seq;
    } catch (err) {
      throw new HttpError(503, 'replication_unavailable', 'the replication log cannot be reached to compare positions', { 'Retry-After': '1' }, { cause: err });
    }
    const caughtUp = await this.waitForSeq(streamLastSeq, timeoutMs);
    return { appliedSeq: this.appliedSeq, streamLastSeq, caughtUp };
  }

  private inflightIndex: Promise<number> | undefined;
  private queuedIndex: Promise<number> | undefined;

  /**
   * The stream's last sequence as of some moment after this call (a read index, as Raft
   * reads do): reads that arrive while a look-up is under way share the next one, so the
   * cost is one JetStream request per round trip however many reads there are.
   */
  readIndex(): Promise<number> {
    if (!this.inflightIndex) return this.sendIndex();
    this.queuedIndex ??= this.inflightIndex.then(() => undefined, () => undefined).then(() => {
      this.queuedIndex = undefined;
      return this.sendIndex();
    });
    return this.queuedIndex;
  }

  private sendIndex(): Promise<number> {
    const sent: Promise<number> = this.jsm.streams.info(SYNC_STREAM).then((info) => info.state.last_seq).finally(() => {
      if (this.inflightIndex === sent) this.inflightIndex = undefined;
    });
    this.inflightIndex = sent;
    return sent;
  }

  /**
   * Read-your-writes wherever the read lands: waits until this node has applied every write
   * the stream had acknowledged when the read arrived (a tenant that just moved to this pod,
   * on a scale event, finds its last writes here). False when NATS could not say within
   * `timeoutMs` (then no write can be acknowledged either) or the apply did not catch up.
   */
  async readBarrier(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let index: number;
    try {
      index = await Promise.race([this.readIndex(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('read index timed out')), timeoutMs).unref())]);
    } catch {
      return false;
    }
    return this.waitForSeq(index, Math.max(0, deadline - Date.now()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.watchdog);
    await this.stopConsuming?.();
  }

  private async applyMessage(message: SyncMessage): Promise<void> {
    this.clock.observe(message.ts);
    await this.stores.apply(message.tenant, message.entries);
    if (message.node !== this.node) {
      const lagSeconds = Math.max(0, wallMicros() - message.ts) / 1e6;
      this.metrics.replicationLag.observe(lagSeconds);
      this.metrics.replicationLagQuantiles.observe(lagSeconds);
    }
  }

  private advance(seq: number): void {
    this.appliedSeq = seq;
    this.lastProgressAt = Date.now();
    this.metrics.appliedSeq.set(seq);
    if (seq >= this.catchUpTarget) this.resolveCaughtUp();
    if (this.seqWaiters.length) {
      const due = this.seqWaiters.filter((w) => w.seq <= seq);
      this.seqWaiters = this.seqWaiters.filter((w) => w.seq > seq);
      for (const waiter of due) waiter.resolve();
    }
  }

  private waitForSeq(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.appliedSeq >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.seqWaiters.push({ seq, resolve: () => { clearTimeout(timer); resolve(true); } });
    });
  }
}
