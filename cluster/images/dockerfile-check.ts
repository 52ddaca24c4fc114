import { DockerfileParser, type Instruction } from 'dockerfile-ast';

/**
 * Static checks of a Dockerfile, in the spirit of hadolint (rule ids given where one
 * exists), on the parse tree of `dockerfile-ast`. What an image must be for the manifests
 * to run it: a pinned base, a non-root user that is the manifests' uid, no remote ADD,
 * exec-form entry points with an init, apt pinned and cleaned, a multi-stage build.
 */
export interface DockerfileProblem {
  rule: string;
  line: number;
  message: string;
}

export interface DockerfileExpectations {
  /** The uid (and gid, when given) of the manifests' securityContext. */
  uid?: number;
  gid?: number;
  /** The containerPort the manifests give the container. */
  port?: number;
}

/** A tag of a full version (22.12.0, 22.12.0-bookworm-slim, v2.42.0), not a moving one (22, lts, latest). */
const FULL_VERSION_TAG = /^v?\d+\.\d+\.\d+(?:[-.+][\w.+-]+)?$/;
const INITS = ['/usr/bin/tini', 'tini', '/sbin/tini', 'dumb-init', '/usr/bin/dumb-init'];

const lineOf = (i: Instruction) => i.getRange().start.line + 1;
const args = (i: Instruction) => i.getArguments().map((a) => a.getValue());

export function checkDockerfile(text: string, expect: DockerfileExpectations = {}): DockerfileProblem[] {
  const problems: DockerfileProblem[] = [];
  const report = (rule: string, at: Instruction | number, message: string) =>
    problems.push({ rule, line: typeof at === 'number' ? at : lineOf(at), message });
  const file = DockerfileParser.parse(text);
  const instructions = file.getInstructions();

  const froms = file.getFROMs();
  if (!froms.length) { report('DL3061', 1, 'no FROM: a Dockerfile starts with its base image'); return problems; }
  if (froms.length < 2) report('multi-stage', froms[0]!, 'one stage only: build in one stage and copy the result into a clean runtime stage');
  const stageNames = new Set(froms.map((f) => f.getBuildStage()).filter((s): s is string => !!s));

  for (const from of froms) {
    const image = from.getImageName() ?? '';
    if (stageNames.has(image)) continue; // FROM an earlier stage
    if (image === 'scratch') continue;
    const tag = from.getImageTag();
    const digest = from.getImageDigest();
    if (!tag && !digest) report('DL3006', from, `${image} has no tag: pin the base image's version`);
    else if (tag === 'latest') report('DL3007', from, `${image}:latest moves: pin the base image's version`);
    else if (tag && !digest && !FULL_VERSION_TAG.test(tag)) report('pinned-base', from, `${image}:${tag} is not a full version (major.minor.patch): it moves under the build`);
    if (from.getVariables().length) report('pinned-base', from, 'the base image comes from a build argument: the checked-in file must name it');
  }

  // The instructions of the final stage: what the image runs as.
  const lastFrom = froms[froms.length - 1]!;
  const finalStage = instructions.filter((i) => lineOf(i) >= lineOf(lastFrom));

  for (const i of instructions) {
    const keyword = i.getKeyword();
    const a = args(i);
    if (keyword === 'ADD') {
      if (a.some((v) => /^(https?|git|ftp):\/\//i.test(v) || v.startsWith('git@'))) report('DL3020', i, 'ADD of a URL: download in a RUN step with a checksum, or COPY a vendored file');
      else report('DL3020', i, 'ADD of local files: use COPY (ADD also unpacks archives, unasked)');
    }
    if (keyword === 'WORKDIR' && a[0] && !a[0].startsWith('/') && !a[0].startsWith('$')) report('DL3000', i, `WORKDIR ${a[0]} is relative: use an absolute path`);
    if (keyword === 'RUN') {
      const cmd = i.getRawArgumentsContent() ?? '';
      if (/\bsudo\b/.test(cmd)) report('DL3004', i, 'sudo in RUN: the build runs as root already, and the image must not need sudo');
      if (/\bapt-get\s+(?:\S+\s+)*install\b/.test(cmd)) {
        if (!/--no-install-recommends/.test(cmd)) report('DL3015', i, 'apt-get install without --no-install-recommends');
        const pkgs = cmd.replace(/\\\n/g, ' ').split(/&&|;|\|/).filter((part) => /apt-get\s+(?:\S+\s+)*install\b/.test(part))
          .flatMap((part) => part.replace(/.*?\binstall\b/, '').trim().split(/\s+/)).filter((w) => w && !w.startsWith('-'));
        for (const pkg of pkgs) if (!pkg.includes('=')) report('DL3008', i, `apt package ${pkg} is not pinned (${pkg}=<version>)`);
        if (!/rm -rf \/var\/lib\/apt\/lists/.test(cmd)) report('DL3009', i, 'apt lists left in the layer: rm -rf /var/lib/apt/lists/* in the same RUN');
      }
      if (/\bcurl\b[^|]*\|\s*(ba)?sh\b|\bwget\b[^|]*\|\s*(ba)?sh\b/.test(cmd)) report('pipe-to-shell', i, 'a downloaded script piped into a shell: nothing pins what runs');
      if (/\bnpm\s+install\b/.test(cmd)) report('npm-ci', i, 'npm install in an image: use npm ci, which installs the committed lock file exactly');
    }
    if ((keyword === 'CMD' || keyword === 'ENTRYPOINT') && !(i.getRawArgumentsContent() ?? '').trim().startsWith('[')) {
      report('DL3025', i, `${keyword} in shell form: signals go to /bin/sh, not to the service; use the JSON (exec) form`);
    }
  }

  const users = finalStage.filter((i) => i.getKeyword() === 'USER');
  const user = users[users.length - 1];
  if (!user) report('DL3002', lastFrom, 'the final stage sets no USER: the image runs as root');
  else {
    const [uidText = '', gidText] = (args(user)[0] ?? '').split(':');
    if (uidText === 'root' || uidText === '0') report('DL3002', user, 'the final USER is root');
    else if (!/^\d+$/.test(uidText)) report('numeric-user', user, `USER ${uidText} is a name: runAsNonRoot can only verify a numeric uid`);
    else if (expect.uid !== undefined && Number(uidText) !== expect.uid) report('manifest-uid', user, `USER ${uidText} but the manifests run the container as uid ${expect.uid}`);
    if (expect.gid !== undefined && gidText !== undefined && Number(gidText) !== expect.gid) report('manifest-uid', user, `group ${gidText} but the manifests run the container as gid ${expect.gid}`);
    // Anything after the final USER runs as that user, which is fine; anything that needs
    // root must come before it, so a later USER root is caught above.
  }

  const entrypoints = finalStage.filter((i) => i.getKeyword() === 'ENTRYPOINT');
  const entry = entrypoints[entrypoints.length - 1];
  const cmds = finalStage.filter((i) => i.getKeyword() === 'CMD');
  if (!entry && !cmds.length) report('entrypoint', lastFrom, 'the final stage has no ENTRYPOINT or CMD');
  if (entry) {
    const first = (entry as unknown as { getJSONStrings?: () => { getJSONValue(): string }[] }).getJSONStrings?.()[0]?.getJSONValue();
    if (first !== undefined && !INITS.includes(first)) report('init', entry, `the entry point is ${first}: run the service under an init (tini) so SIGTERM reaches it and zombies are reaped`);
  } else if (cmds.length) report('init', cmds[cmds.length - 1]!, 'no ENTRYPOINT with an init (tini): the service would be PID 1 and ignore SIGTERM until it handles it');

  const copiesFromStage = finalStage.some((i) => i.getKeyword() === 'COPY' && (i as unknown as { getFromFlag(): unknown }).getFromFlag());
  if (froms.length >= 2 && !copiesFromStage) {
    report('multi-stage', lastFrom, 'the final stage copies nothing from a build stage');
  }
  if (expect.port !== undefined) {
    const exposed = finalStage.filter((i) => i.getKeyword() === 'EXPOSE').flatMap(args).map((p) => Number(p.split('/')[0]));
    if (!exposed.includes(expect.port)) report('manifest-port', lastFrom, `EXPOSE ${expect.port} missing: the manifests' containerPort is ${expect.port}`);
  }
  return problems.sort((a, b) => a.line - b.line);
}

export function formatProblems(file: string, problems: DockerfileProblem[]): string {
  return problems.map((p) => `${file}:${p.line} ${p.rule} ${p.message}`).join('\n');
}
