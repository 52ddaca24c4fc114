import type { Child } from './child.ts';
import type { RecordedProcess } from './state.ts';

/**
 * Every process the daemon has running, the moment it is spawned: what the state file
 * records for a sweep, and what shutdown stops even if the step that started it has not
 * returned yet (Ctrl-C in the middle of `up`).
 */
export class ChildRegistry {
  private readonly children = new Set<Child>();
  /** Once closed (shutdown), anything still being spawned is killed on arrival. */
  closed = false;
  constructor(private readonly onChange: () => void = () => {}) {}

  add(child: Child): void {
    this.children.add(child);
    this.onChange();
  }

  /** Adds the child now and removes it when it exits. */
  track(child: Child): Child {
    if (this.closed) child.signal('SIGKILL');
    this.add(child);
    void child.exited.then(() => this.remove(child));
    return child;
  }

  /** Something recorded about a child changed (a port it reported): the state file follows. */
  changed(): void { this.onChange(); }

  remove(child: Child): void {
    if (this.children.delete(child)) this.onChange();
  }

  get all(): Child[] { return [...this.children]; }

  close(): void { this.closed = true; }

  records(): RecordedProcess[] {
    return this.all.filter((c) => c.pid > 0).map((c) => ({ name: c.name, pid: c.pid, identity: c.identity, ports: c.ports, log: c.log }));
  }

  /** SIGTERM to all, SIGKILL after `graceMs`; resolves when every one has exited. */
  async stopAll(graceMs: number): Promise<void> {
    await Promise.all(this.all.map(async (c) => { await c.stop(graceMs); this.remove(c); }));
  }
}
