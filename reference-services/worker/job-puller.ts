import type { Consumer, JsMsg } from '@nats-io/jetstream';
import type { Logger } from '../shared/logger.ts';

/** The shortest pull the server allows: an idle worker notices SIGTERM within about this long. */
const PULL_EXPIRES_MS = 1000;
const RETRY_AFTER_ERROR_MS = 1000;

/**
 * Pulls jobs one at a time per slot. A slot asks for the next message only when it is
 * free, so nothing waits in this worker's buffer while other workers are idle, and a
 * worker that is killed holds no more jobs than it was processing.
 */
export class JobPuller {
  private stopping = false;
  private loops: Promise<void>[] = [];
  private readonly inFlight = new Set<JsMsg>();

  constructor(
    private readonly consumer: Consumer,
    private readonly handle: (msg: JsMsg) => Promise<void>,
    private readonly opts: { concurrency: number; logger: Logger },
  ) {}

  start(): void {
    for (let slot = 0; slot < this.opts.concurrency; slot += 1) this.loops.push(this.loop());
  }

  get busy(): number { return this.inFlight.size; }

  /** Stops asking for jobs at once; jobs already received still run to the end. */
  quiesce(): void { this.stopping = true; }

  /**
   * Waits for in-flight jobs, at most `timeoutMs`. Jobs still running then are handed
   * back with an immediate nak so another worker takes them now, not after ack_wait.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    this.quiesce();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      Promise.all(this.loops).then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), timeoutMs); }),
    ]);
    clearTimeout(timer);
    if (timedOut) for (const msg of this.inFlight) msg.nak();
    return !timedOut;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let msg: JsMsg | null;
      try {
        msg = await this.consumer.next({ expires: PULL_EXPIRES_MS });
      } catch (err) {
        if (this.stopping) return;
        this.opts.logger.warn({ err }, 'pull failed; retrying');
        await new Promise((r) => setTimeout(r, RETRY_AFTER_ERROR_MS));
        continue;
      }
      if (!msg) continue;
      // A message that arrives after SIGTERM was already delivered to us: finish it too.
      this.inFlight.add(msg);
      try {
        await this.handle(msg);
      } catch (err) {
        this.opts.logger.error({ err }, 'job handler failed unexpectedly');
        msg.nak();
      } finally {
        this.inFlight.delete(msg);
      }
    }
  }
}
