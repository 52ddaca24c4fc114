#!/usr/bin/env node
// Installs what the suite and the tests need on a fresh machine: npm packages when
// node_modules is missing or older than the lockfile, and nats-server, prometheus,
// haproxy and chromium through apt when they are not on PATH. Where it can't, it says what to do.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

// chromium: the run report is checked in a real browser (Debian's build; Playwright's own
// browser download is not reachable everywhere the suite runs).
const REQUIRED_BINARIES = { 'nats-server': 'nats-server', prometheus: 'prometheus', haproxy: 'haproxy', chromium: 'chromium' };
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(REQUIRED_BINARIES);

const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const say = (msg) => process.stderr.write(`[ensure-deps] ${msg}\n`);

function ensureNodeModules() {
  const stale = !existsSync('node_modules/.package-lock.json')
    || statSync('package-lock.json').mtimeMs > statSync('node_modules/.package-lock.json').mtimeMs;
  if (!stale) return;
  say('installing npm packages (npm ci)…');
  const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (ci.status === 0) return;
  // npm ci refuses a lock that lacks other platforms' optional packages (rollup's native
  // builds, pruned by some npm versions); npm install keeps the locked versions and fills them in.
  say('npm ci failed; installing with npm install instead…');
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { stdio: 'inherit' });
}

function ensureBinaries() {
  const missing = wanted.filter((bin) => !onPath(bin));
  if (missing.length === 0) return;
  const packages = missing.map((bin) => REQUIRED_BINARIES[bin]);
  const isRoot = process.getuid?.() === 0;
  const canApt = onPath('apt-get');
  if (!canApt) {
    say(`missing ${missing.join(', ')} and no apt-get here: install ${packages.join(', ')} with your package manager (macOS: brew install ${packages.join(' ')}), then run again.`);
    process.exit(1);
  }
  const sudo = isRoot ? [] : onPath('sudo') ? ['sudo', '-n'] : null;
  if (!sudo) {
    say(`missing ${missing.join(', ')}: run "sudo apt-get install -y ${packages.join(' ')}" and run again.`);
    process.exit(1);
  }
  say(`installing ${packages.join(', ')} with apt-get…`);
  const run = (args) => spawnSync(sudo[0] ?? args[0], sudo.length ? [...sudo.slice(1), ...args] : args.slice(1), {
    stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  }).status;
  if (run(['apt-get', 'install', '-y', '-qq', ...packages]) !== 0) {
    if (run(['apt-get', 'update', '-qq']) !== 0 || run(['apt-get', 'install', '-y', '-qq', ...packages]) !== 0) {
      say(`apt-get could not install ${packages.join(', ')}: install them by hand, then run again.`);
      process.exit(1);
    }
  }
  const still = missing.filter((bin) => !onPath(bin));
  if (still.length) {
    say(`${still.join(', ')} still not on PATH after installing (Debian puts nats-server and haproxy in /usr/sbin: add it to PATH).`);
    process.exit(1);
  }
}

ensureNodeModules();
ensureBinaries();
