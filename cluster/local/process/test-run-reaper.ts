import { isSameProcess } from './proc-identity.ts';
import { sweepDeadTestRun } from './sweep.ts';

/**
 * Watches one `npm test` run's runner and, once it is gone however it went (its teardown,
 * Ctrl-C, SIGKILL, a crash), stops every process still carrying the run's marker and
 * removes its dir. A runner interrupted mid-test exits without running its teardown or its
 * exit handlers, so this cannot live inside it.
 *
 * argv: <run dir> <runner pid> <runner identity>
 */
const [dir, pid, identity] = process.argv.slice(2);
const CHECK_MS = 250;

if (!dir || !pid || !identity) {
  console.error('usage: test-run-reaper <run dir> <runner pid> <runner identity>');
  process.exit(2);
}
const timer = setInterval(() => {
  if (isSameProcess(Number(pid), identity)) return;
  clearInterval(timer);
  void sweepDeadTestRun(dir).then(() => process.exit(0), () => process.exit(1));
}, CHECK_MS);
