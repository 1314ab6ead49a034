/**
 * Container commands, as Docker's CLI behaves: run, create, start, stop, kill, restart, pause,
 * unpause, rm, ps / container ls, inspect, logs, wait, top, stats, attach, exec, cp, rename,
 * port, export, commit, container prune.
 *
 * Heavy modules (the container service, the attach client, the image service) are required
 * inside `run` only: `berth run` is on a latency budget.
 */
import { mark } from '../../core/trace';
import type { CliCommand, CliContext } from '../command';
import type { FlagSpec, Parsed } from '../kit/args';
import type { ContainerService, ContainerRecord } from '../../core/containers/service';
import type { HostConfig, ContainerConfig } from '../../core/containers/spec';
import type { AttachClient } from '../../core/containers/attach';
import { isoTime } from '../../core/time';

const HOST = 'berth.host.v1';
const STORAGE = 'berth.storage.v1';
const ISOLATION = 'berth.isolation.v1';
const TRANSPORT = 'berth.transport.v1';
const PLUGINS = [HOST, STORAGE, ISOLATION];

const kit = () => require('../kit') as typeof import('../kit');
const specMod = () => require('../../core/containers/spec') as typeof import('../../core/containers/spec');

async function service(ctx: CliContext): Promise<ContainerService> {
  const engine = await ctx.engine();
  const { containerService } = require('../../core/containers/service') as typeof import('../../core/containers/service');
  return engine.use(containerService);
}

function errLine(ctx: CliContext, e: unknown): void {
  const { describeError } = require('../../core/errors') as typeof import('../../core/errors');
  ctx.err(`Error response from daemon: ${describeError(e)}`);
}

/** Runs `fn` for each argument, printing Docker's per-item errors; exit 1 if any failed. */
function eachArg(ctx: CliContext, args: string[], fn: (ref: string) => Promise<void>): Promise<number> {
  return (require('../kit/each') as typeof import('../kit/each')).eachItem(ctx.err, args, fn);
}

// ---- run / create flags -----------------------------------------------------------------------

const CREATE_FLAGS: FlagSpec[] = [
  { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'name', type: 'string', description: 'Assign a name to the container' },
  { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
  { name: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
  { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
  { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'entrypoint', type: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'hostname', short: 'h', type: 'string', description: 'Container host name' },
  { name: 'label', short: 'l', type: 'list', description: 'Set meta data on a container' },
  { name: 'label-file', type: 'list', description: 'Read in a line delimited file of labels' },
  { name: 'restart', type: 'string', default: 'no', description: 'Restart policy to apply when a container exits' },
  { name: 'stop-signal', type: 'string', description: 'Signal to stop the container' },
  { name: 'stop-timeout', type: 'number', description: 'Timeout (in seconds) to stop a container' },
  { name: 'init', type: 'bool', description: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'read-only', type: 'bool', description: "Mount the container's root filesystem as read only" },
  { name: 'privileged', type: 'bool', description: 'Give extended privileges to this container' },
  { name: 'cap-add', type: 'list', description: 'Add Linux capabilities' },
  { name: 'cap-drop', type: 'list', description: 'Drop Linux capabilities' },
  { name: 'security-opt', type: 'list', description: 'Security Options' },
  { name: 'device', type: 'list', description: 'Add a host device to the container' },
  { name: 'tmpfs', type: 'list', description: 'Mount a tmpfs directory' },
  { name: 'ulimit', type: 'list', description: 'Ulimit options' },
  { name: 'memory', short: 'm', type: 'string', description: 'Memory limit' },
  { name: 'memory-swap', type: 'string', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'cpus', type: 'string', description: 'Number of CPUs' },
  { name: 'cpu-shares', short: 'c', type: 'number', description: 'CPU shares (relative weight)' },
  { name: 'cpuset-cpus', type: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'pids-limit', type: 'number', description: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'shm-size', type: 'string', description: 'Size of /dev/shm' },
  { name: 'userns', type: 'string', description: "User namespace to use ('remap': container root is an unprivileged host uid range; 'host')" },
  { name: 'network', type: 'string', default: 'default', description: 'Connect a container to a network (none, host)' },
  { name: 'net', type: 'string', description: 'Connect a container to a network', hidden: true },
  { name: 'publish', short: 'p', type: 'list', description: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', type: 'bool', description: 'Publish all exposed ports to random ports' },
  { name: 'pull', type: 'string', default: 'missing', description: 'Pull image before creating ("always", "missing", "never")' },
  { name: 'platform', type: 'string', description: 'Set platform if server is multi-platform capable' },
  { name: 'rootfs', type: 'bool', description: 'The first argument is a root filesystem directory, not an image (as podman)' },
  { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress the pull output' },
];

const RUN_FLAGS: FlagSpec[] = [
  ...CREATE_FLAGS,
  { name: 'detach', short: 'd', type: 'bool', description: 'Run container in background and print container ID' },
  { name: 'rm', type: 'bool', description: 'Automatically remove the container when it exits' },
  { name: 'attach', short: 'a', type: 'list', description: 'Attach to STDIN, STDOUT or STDERR' },
  { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
  { name: 'sig-proxy', type: 'bool', default: true, description: 'Proxy received signals to the process' },
];

function readEnvFile(path: string): string[] {
  const { readFileSync } = require('node:fs') as typeof import('node:fs');
  const out: string[] = [];
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith('#')) continue;
    if (line.includes('=')) out.push(line);
    else if (process.env[line.trim()] !== undefined) out.push(`${line.trim()}=${process.env[line.trim()]}`);
  }
  return out;
}

function envList(p: Parsed): string[] {
  const out: string[] = [];
  for (const f of p.list('env-file')) out.push(...readEnvFile(f));
  for (const e of p.list('env')) {
    if (e.includes('=')) out.push(e);
    else if (process.env[e] !== undefined) out.push(`${e}=${process.env[e]}`);
  }
  return out;
}

interface RunPlan {
  name?: string;
  image: string;
  rootfs?: string;
  cmd: string[];
  entrypoint?: string[] | null;
  config: Partial<ContainerConfig>;
  hostConfig: Partial<HostConfig>;
  pull: 'missing' | 'always' | 'never';
}

function planFromFlags(p: Parsed, isRun: boolean): RunPlan {
  const s = specMod();
  const labels: Record<string, string> = {};
  const { readFileSync } = require('node:fs') as typeof import('node:fs');
  for (const f of p.list('label-file')) for (const l of readFileSync(f, 'utf8').split('\n')) if (l.trim() && !l.startsWith('#')) p.list('label').push(l);
  for (const l of p.list('label')) {
    const i = l.indexOf('=');
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? '' : l.slice(i + 1);
  }
  const tmpfs: Record<string, string> = {};
  for (const t of p.list('tmpfs')) {
    const i = t.indexOf(':');
    tmpfs[i < 0 ? t : t.slice(0, i)] = i < 0 ? '' : t.slice(i + 1);
  }
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }>> = {};
  for (const pp of p.list('publish')) ports[pp] = [{ HostIp: '', HostPort: pp }];
  const cpus = p.str('cpus');
  let nano = 0;
  if (cpus !== undefined) {
    const n = Number(cpus);
    if (!Number.isFinite(n) || n < 0) throw s.ERR_CONTAINER_BAD_OPTION('cpus', cpus);
    nano = Math.round(n * 1e9);
  }
  const mem = p.str('memory');
  const swap = p.str('memory-swap');
  const restart = s.parseRestart(p.str('restart'));
  const rm = isRun && p.bool('rm');
  if (rm && restart.Name !== 'no') throw s.ERR_CONTAINER_BAD_OPTION('options', 'conflicting options: cannot specify both --restart and --rm');
  const epFlag = p.has('entrypoint') ? p.str('entrypoint') ?? '' : undefined;
  const network = p.str('net') ?? p.str('network') ?? 'default';
  const tty = p.bool('tty');
  const interactive = p.bool('interactive');
  const detach = isRun && p.bool('detach');
  const pidsLimit = p.num('pids-limit');
  const pull = (p.str('pull') ?? 'missing') as RunPlan['pull'];
  if (!['missing', 'always', 'never'].includes(pull)) throw s.ERR_CONTAINER_BAD_OPTION('pull option', pull);
  const [image, ...cmd] = p.args as [string, ...string[]];
  const plan: RunPlan = {
    image,
    cmd,
    ...(p.bool('rootfs') ? { rootfs: require('node:path').resolve(image) as string } : {}),
    ...(epFlag !== undefined ? { entrypoint: epFlag === '' ? null : [epFlag] } : {}),
    ...(p.str('name') ? { name: p.str('name')! } : {}),
    pull,
    config: {
      ...(p.str('hostname') ? { Hostname: p.str('hostname')! } : {}),
      ...(p.str('user') !== undefined ? { User: p.str('user')! } : {}),
      ...(p.str('workdir') ? { WorkingDir: p.str('workdir')! } : {}),
      ...(p.str('stop-signal') ? { StopSignal: p.str('stop-signal')! } : {}),
      ...(p.num('stop-timeout') !== undefined ? { StopTimeout: p.num('stop-timeout')! } : {}),
      Env: envList(p),
      Labels: labels,
      Tty: tty,
      OpenStdin: interactive,
      StdinOnce: interactive && !detach,
      AttachStdin: interactive && !detach,
      AttachStdout: !detach,
      AttachStderr: !detach,
    },
    hostConfig: {
      AutoRemove: rm,
      RestartPolicy: restart,
      Privileged: p.bool('privileged'),
      ReadonlyRootfs: p.bool('read-only'),
      CapAdd: p.list('cap-add').length ? p.list('cap-add').map(s.normCap) : null,
      CapDrop: p.list('cap-drop').length ? p.list('cap-drop').map(s.normCap) : null,
      SecurityOpt: p.list('security-opt').length ? p.list('security-opt') : null,
      Devices: p.list('device').map(s.parseDevice),
      Tmpfs: tmpfs,
      Ulimits: p.list('ulimit').map(s.parseUlimit),
      Memory: mem ? s.parseBytes(mem, 'memory') : 0,
      MemorySwap: swap === '-1' ? -1 : swap ? s.parseBytes(swap, 'memory-swap') : 0,
      NanoCpus: nano,
      CpuShares: p.num('cpu-shares') ?? 0,
      CpusetCpus: p.str('cpuset-cpus') ?? '',
      PidsLimit: pidsLimit === undefined ? null : pidsLimit,
      ...(p.str('shm-size') ? { ShmSize: s.parseBytes(p.str('shm-size')!, 'shm-size') } : {}),
      UsernsMode: p.str('userns') ?? '',
      Init: p.bool('init') ? true : null,
      NetworkMode: network,
      PortBindings: ports,
      ConsoleSize: tty && process.stdout.isTTY ? [process.stdout.rows, process.stdout.columns] : [0, 0],
    },
  };
  if (p.bool('publish-all') && !p.list('publish').length) { /* nothing exposed to publish without a network plugin */ }
  for (const o of plan.hostConfig.SecurityOpt ?? []) {
    if (!/^no-new-privileges(?:[:=](?:true|false))?$/.test(o) && !/^(seccomp|apparmor|label)[:=]/.test(o)) throw s.ERR_CONTAINER_BAD_OPTION('--security-opt', o);
  }
  return plan;
}

/**
 * Creates the container. The image transport is not booted for `run`/`create` (it costs time on
 * every run); when the image is missing, a second engine with the transport pulls it, printing
 * Docker's `Unable to find image … locally` and the pull progress on stderr, then create retries.
 */
async function createFromPlan(ctx: CliContext, svc: ContainerService, plan: RunPlan, quiet: boolean): Promise<ContainerRecord> {
  const pull = async () => {
    const { Engine } = require('../../core/engine') as typeof import('../../core/engine');
    const { builtins } = require('../../plugins/builtins') as typeof import('../../plugins/builtins');
    const { pullImage } = require('../../core/images/pull') as typeof import('../../core/images/pull');
    const e2 = await Engine.open({
      registrations: builtins, root: svc.root, onlyTypes: [HOST, STORAGE, TRANSPORT],
      ...(ctx.globals.config !== undefined ? { configFile: ctx.globals.config } : {}),
    });
    const progress = kit().createProgress(ctx.stderr, { quiet });
    try {
      await pullImage(e2, plan.image, { progress, quiet });
    } finally {
      progress.close();
      await e2.close();
    }
  };
  if (!plan.rootfs && plan.pull === 'always') await pull();
  try {
    return await svc.create({ ...plan, pull: 'never' });
  } catch (e) {
    const { BerthError } = require('../../core/errors') as typeof import('../../core/errors');
    const missing = e instanceof BerthError && e.cls === 'notFound' && /IMAGE/.test(e.code);
    if (!missing || plan.rootfs || plan.pull !== 'missing') throw e;
    if (!quiet) ctx.err(`Unable to find image '${plan.image}' locally`);
    await pull();
    return svc.create({ ...plan, pull: 'never' });
  }
}

/** Exit code for a failed start: 126/127 for the runtime's exec errors, else 125. */
function startFailureCode(e: unknown): number {
  const d = (e as { details?: { exitCode?: number } }).details;
  return d?.exitCode && [125, 126, 127].includes(d.exitCode) ? d.exitCode : 125;
}

const ignoreSignal = (): void => undefined;

/**
 * Attached session over the monitor's socket: output to our stdout/stderr, stdin (raw mode for
 * a TTY, with the detach keys caught here), window size. Resolves with the exit code, or
 * undefined after a detach.
 */
function session(ctx: CliContext, client: AttachClient, o: { tty: boolean; stdin: boolean; detachKeys?: string; onSignal?: (sig: NodeJS.Signals) => void; streams?: string[] }): Promise<number | undefined> {
  const { DetachScanner } = require('../../core/containers/attach') as typeof import('../../core/containers/attach');
  return new Promise((resolve) => {
    let exitCode: number | undefined;
    let detached = false;
    const stdin = ctx.stdin;
    const wasRaw = stdin.isTTY ? stdin.isRaw : false;
    const cleanup = () => {
      if (o.stdin) {
        stdin.removeListener('data', onData);
        stdin.removeListener('end', onEnd);
        if (stdin.isTTY && o.tty) stdin.setRawMode(wasRaw);
        stdin.pause();
      }
      process.removeListener('SIGWINCH', onWinch);
      // The forwarded signals stay caught until the CLI exits: once the container is gone there
      // is nothing to forward them to, but a late one (the same ctrl-c again, a supervisor's
      // TERM) must not kill the CLI while it removes a --rm container (Docker's CLI behaves so).
      for (const s of SIGS) {
        process.removeListener(s, onSig);
        process.on(s, ignoreSignal);
      }
    };
    const scanner = o.tty ? DetachScanner.parse(o.detachKeys) : undefined;
    const onData = (d: Buffer) => {
      if (scanner) {
        const r = scanner.push(d);
        if (r.forward.length) client.sendStdin(r.forward);
        if (r.detach) {
          detached = true;
          cleanup();
          client.close();
        }
      } else client.sendStdin(d);
    };
    const onEnd = () => client.closeStdin();
    const onWinch = () => {
      if (o.tty && ctx.stdout.isTTY) client.resize(ctx.stdout.rows, ctx.stdout.columns);
    };
    // With a raw terminal (-it) ctrl-c is a byte for the container; otherwise signals the CLI
    // receives are forwarded (Docker's --sig-proxy).
    const SIGS: NodeJS.Signals[] = o.tty && o.stdin && stdin.isTTY ? [] : ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];
    const onSig = (s: NodeJS.Signals) => o.onSignal?.(s);
    for (const s of SIGS) process.on(s, onSig);
    const want = (name: string) => !o.streams?.length || o.streams.includes(name);
    client.onOutput = (stream, data) => {
      if (stream === 2) { if (want('stderr')) ctx.stderr.write(data); } else if (want('stdout')) ctx.stdout.write(data);
    };
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      cleanup();
      resolve(detached ? undefined : exitCode ?? 0);
    };
    client.onExit = (e) => {
      mark('session: exit frame');
      exitCode = e.exitCode;
      finish();
      client.close();
    };
    client.onClose = finish;
    process.on('SIGWINCH', onWinch);
    client.begin();
    onWinch();
    if (o.stdin) {
      if (stdin.isTTY && o.tty) {
        stdin.setRawMode(true);
        // libuv's raw mode keeps output post-processing (ONLCR); Docker's terminal is fully raw,
        // and the container's own pty already turns \n into \r\n.
        try { (require('node:child_process') as typeof import('node:child_process')).spawnSync('stty', ['-opost'], { stdio: ['inherit', 'ignore', 'ignore'] }); } catch { /* no stty */ }
      }
      stdin.on('data', onData);
      stdin.on('end', onEnd);
      stdin.resume();
    }
  });
}

/**
 * --rm has one remover. An attached CLI claims it before the start by writing its pid to
 * `rm-claimed` in the container dir, and removes the container itself after the exit frame
 * (the removal waits for the monitor to be gone before the container's files go); the monitor
 * removes it when no live CLI holds the claim (run -d --rm, a CLI that was killed, or one that
 * detached).
 */
function claimRemoval(svc: ContainerService, id: string): void {
  const fs = require('node:fs') as typeof import('node:fs');
  try { fs.writeFileSync(`${svc.dirOf(id)}/rm-claimed`, `${process.pid}\n`); } catch { /* no dir: nothing to race with */ }
}

function releaseRemoval(svc: ContainerService, id: string): void {
  const fs = require('node:fs') as typeof import('node:fs');
  try { fs.unlinkSync(`${svc.dirOf(id)}/rm-claimed`); } catch { /* gone */ }
}

async function runAttached(ctx: CliContext, svc: ContainerService, rec: ContainerRecord, o: { stdin: boolean; detachKeys?: string; sigProxy: boolean; autoRemove: boolean; streams?: string[] }): Promise<number> {
  const { AttachClient, attachName } = require('../../core/containers/attach') as typeof import('../../core/containers/attach');
  let client: AttachClient | undefined;
  if (o.autoRemove) claimRemoval(svc, rec.id);
  try {
    await svc.start(rec.id, {
      waitAttach: true,
      onListening: async () => {
        client = await AttachClient.connect(attachName(svc.root, rec.id));
        if (rec.config.Tty && ctx.stdout.isTTY) client.resize(ctx.stdout.rows, ctx.stdout.columns);
        mark('start: attached');
        // --rm will trash the container's files: fork the remover now, while the runtime
        // starts the container, not on the removal's critical path.
        if (o.autoRemove) (require('../../core/store/trash') as typeof import('../../core/store/trash')).startRemover();
      },
    });
  } catch (e) {
    client?.close();
    const { describeError } = require('../../core/errors') as typeof import('../../core/errors');
    ctx.err(`berth: Error response from daemon: ${describeError(e)}`);
    if (o.autoRemove) await svc.remove(rec.id, { force: true }).catch(() => undefined);
    return startFailureCode(e);
  }
  if (!client) throw new Error('attach: not connected');
  const code = await session(ctx, client, {
    tty: rec.config.Tty, stdin: o.stdin, ...(o.detachKeys ? { detachKeys: o.detachKeys } : {}),
    onSignal: (sig) => { if (o.sigProxy) void svc.kill(rec.id, sig).catch(() => undefined); },
    ...(o.streams ? { streams: o.streams } : {}),
  });
  // The exit frame is the end: the monitor records the exit (and, for the final one, releases
  // the rootfs) before it sends it. --rm removes right away; the removal waits for the monitor's
  // own cleanup (the runtime's delete) only where it must (backend delete).
  if (code === undefined) {
    ctx.err('read escape sequence'); // Docker prints it on detach
    if (o.autoRemove) {
      // Detached: the monitor removes the container when it exits. If it exited meanwhile,
      // the monitor may have seen our claim still held: remove it here.
      releaseRemoval(svc, rec.id);
      const st = await svc.state(rec).catch(() => undefined);
      if (st && (st.status === 'exited' || st.status === 'dead')) await svc.remove(rec.id, { force: true }).catch(() => undefined);
    }
    return 0;
  }
  mark('run: session over');
  if (o.autoRemove) await svc.remove(rec.id, { force: true }).catch(() => undefined);
  mark('run: removed');
  return code;
}

const run: CliCommand = {
  spec: {
    name: 'run',
    aliases: ['container run'],
    usage: 'berth run [OPTIONS] IMAGE [COMMAND] [ARG...]',
    description: 'Create and run a new container from an image',
    interspersed: false,
    args: { min: 1 },
    flags: RUN_FLAGS,
  },
  plugins: PLUGINS,
  configuredOnly: true,
  runLike: true,
  async run(ctx, p) {
    const plan = planFromFlags(p, true);
    const streams = p.list('attach').map((x) => x.toLowerCase());
    for (const x of streams) if (!['stdin', 'stdout', 'stderr'].includes(x)) throw specMod().ERR_CONTAINER_BAD_OPTION('--attach', `${x}: valid streams are STDIN, STDOUT and STDERR`);
    if (streams.length && p.bool('detach')) throw specMod().ERR_CONTAINER_BAD_OPTION('options', 'conflicting options: cannot specify both --attach and --detach');
    const svc = await service(ctx);
    const rec = await createFromPlan(ctx, svc, plan, p.bool('quiet'));
    if (p.bool('detach')) {
      try {
        await svc.start(rec.id);
      } catch (e) {
        const { describeError } = require('../../core/errors') as typeof import('../../core/errors');
        ctx.err(`berth: Error response from daemon: ${describeError(e)}`);
        if (plan.hostConfig.AutoRemove) await svc.remove(rec.id, { force: true }).catch(() => undefined);
        return startFailureCode(e);
      }
      ctx.out(rec.id);
      return 0;
    }
    return runAttached(ctx, svc, rec, {
      stdin: p.bool('interactive') && (!streams.length || streams.includes('stdin')), sigProxy: p.bool('sig-proxy'), autoRemove: !!plan.hostConfig.AutoRemove,
      ...(streams.length ? { streams } : {}),
      ...(p.str('detach-keys') ? { detachKeys: p.str('detach-keys')! } : {}),
    });
  },
};

const create: CliCommand = {
  spec: {
    name: 'create',
    aliases: ['container create'],
    usage: 'berth create [OPTIONS] IMAGE [COMMAND] [ARG...]',
    description: 'Create a new container',
    interspersed: false,
    args: { min: 1 },
    flags: CREATE_FLAGS,
  },
  plugins: PLUGINS,
  configuredOnly: true,
  runLike: true,
  async run(ctx, p) {
    const plan = planFromFlags(p, false);
    const svc = await service(ctx);
    const rec = await createFromPlan(ctx, svc, plan, p.bool('quiet'));
    ctx.out(rec.id);
  },
};

const start: CliCommand = {
  spec: {
    name: 'start',
    aliases: ['container start'],
    usage: 'berth start [OPTIONS] CONTAINER [CONTAINER...]',
    description: 'Start one or more stopped containers',
    args: { min: 1 },
    flags: [
      { name: 'attach', short: 'a', type: 'bool', description: 'Attach STDOUT/STDERR and forward signals' },
      { name: 'interactive', short: 'i', type: 'bool', description: "Attach container's STDIN" },
      { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    ],
  },
  plugins: PLUGINS,
  runLike: true,
  async run(ctx, p) {
    const svc = await service(ctx);
    if (p.bool('attach') || p.bool('interactive')) {
      if (p.args.length > 1) throw (require('../../core/errors') as typeof import('../../core/errors')).ERR_USAGE('you cannot start and attach multiple containers at once');
      const rec = await svc.resolve(p.args[0]!);
      return runAttached(ctx, svc, rec, {
        stdin: p.bool('interactive') && rec.config.OpenStdin, sigProxy: true, autoRemove: rec.hostConfig.AutoRemove,
        ...(p.str('detach-keys') ? { detachKeys: p.str('detach-keys')! } : {}),
      });
    }
    return eachArg(ctx, p.args, async (ref) => {
      await svc.start(ref);
      ctx.out(ref);
    });
  },
};

/** `stop` and `restart` take the same flags, as in Docker. */
const STOP_FLAGS: FlagSpec[] = [
  { name: 'time', short: 't', type: 'number', description: 'Seconds to wait before killing the container' },
  { name: 'signal', short: 's', type: 'string', description: 'Signal to send to the container' },
];

const stop: CliCommand = {
  spec: {
    name: 'stop',
    aliases: ['container stop'],
    usage: 'berth stop [OPTIONS] CONTAINER [CONTAINER...]',
    description: 'Stop one or more running containers',
    args: { min: 1 },
    flags: STOP_FLAGS,
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const t = p.num('time');
    const results = await Promise.all(p.args.map(async (ref) => {
      try {
        await svc.stop(ref, t, p.str('signal'));
        return { ref };
      } catch (e) {
        return { ref, e };
      }
    }));
    let code = 0;
    for (const r of results) {
      if (r.e) { errLine(ctx, r.e); code = 1; } else ctx.out(r.ref);
    }
    return code;
  },
};

const kill: CliCommand = {
  spec: {
    name: 'kill',
    aliases: ['container kill'],
    usage: 'berth kill [OPTIONS] CONTAINER [CONTAINER...]',
    description: 'Kill one or more running containers',
    args: { min: 1 },
    flags: [{ name: 'signal', short: 's', type: 'string', default: 'KILL', description: 'Signal to send to the container' }],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    return eachArg(ctx, p.args, async (ref) => {
      await svc.kill(ref, p.str('signal') ?? 'KILL');
      ctx.out(ref);
    });
  },
};

const restart: CliCommand = {
  spec: {
    name: 'restart',
    aliases: ['container restart'],
    usage: 'berth restart [OPTIONS] CONTAINER [CONTAINER...]',
    description: 'Restart one or more containers',
    args: { min: 1 },
    flags: STOP_FLAGS,
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    return eachArg(ctx, p.args, async (ref) => {
      await svc.restart(ref, p.num('time'));
      ctx.out(ref);
    });
  },
};

const pause: CliCommand = {
  spec: { name: 'pause', aliases: ['container pause'], usage: 'berth pause CONTAINER [CONTAINER...]', description: 'Pause all processes within one or more containers', args: { min: 1 }, flags: [] },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    return eachArg(ctx, p.args, async (ref) => { await svc.pause(ref); ctx.out(ref); });
  },
};

const unpause: CliCommand = {
  spec: { name: 'unpause', aliases: ['container unpause'], usage: 'berth unpause CONTAINER [CONTAINER...]', description: 'Unpause all processes within one or more containers', args: { min: 1 }, flags: [] },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    return eachArg(ctx, p.args, async (ref) => { await svc.unpause(ref); ctx.out(ref); });
  },
};

const rm: CliCommand = {
  spec: {
    name: 'rm',
    aliases: ['container rm', 'container remove'],
    usage: 'berth rm [OPTIONS] CONTAINER [CONTAINER...]',
    description: 'Remove one or more containers',
    args: { min: 1 },
    flags: [
      { name: 'force', short: 'f', type: 'bool', description: 'Force the removal of a running container (uses SIGKILL)' },
      { name: 'volumes', short: 'v', type: 'bool', description: 'Remove anonymous volumes associated with the container' },
      { name: 'link', short: 'l', type: 'bool', description: 'Remove the specified link' },
    ],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const { ERR_CONTAINER_NOT_FOUND } = require('../../core/containers/service') as typeof import('../../core/containers/service');
    let code = 0;
    await Promise.all(p.args.map(async (ref) => {
      try {
        await svc.remove(ref, { force: p.bool('force'), volumes: p.bool('volumes') });
        ctx.out(ref);
      } catch (e) {
        // Docker's `rm -f` of a missing container is not an error.
        if (p.bool('force') && ERR_CONTAINER_NOT_FOUND.is(e)) return;
        errLine(ctx, e);
        code = 1;
      }
    }));
    return code;
  },
};

// ---- ps ---------------------------------------------------------------------------------------

function quoteCommand(cmd: string, noTrunc: boolean): string {
  let c = cmd;
  if (!noTrunc && [...c].length > 20) c = [...c].slice(0, 19).join('') + '…';
  return JSON.stringify(c);
}

const ps: CliCommand = {
  spec: {
    name: 'ps',
    aliases: ['container ls', 'container list', 'container ps'],
    usage: 'berth ps [OPTIONS]',
    description: 'List containers',
    args: { max: 0 },
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Only display container IDs' },
      { name: 'last', short: 'n', type: 'number', default: -1, description: 'Show n last created containers (includes all states)' },
      { name: 'latest', short: 'l', type: 'bool', description: 'Show the latest created container (includes all states)' },
      { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes' },
      { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
      { name: 'filter', short: 'f', type: 'list', description: 'Filter output based on conditions provided' },
      { name: 'format', type: 'string', description: "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)" },
    ],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const { statusText, dockerStatus } = require('../../core/containers/service') as typeof import('../../core/containers/service');
    const { humanDuration, humanSize, truncateId, formatList } = kit();
    const filters: Record<string, string[]> = {};
    for (const f of p.list('filter')) {
      const i = f.indexOf('=');
      if (i < 0) throw (require('../../core/errors') as typeof import('../../core/errors')).ERR_USAGE(`bad format of filter (expected name=value)`);
      const k = f.slice(0, i);
      if (!['status', 'name', 'label', 'ancestor', 'exited', 'id', 'before', 'since', 'network', 'volume', 'health', 'is-task', 'expose', 'publish'].includes(k)) {
        throw (require('../../core/errors') as typeof import('../../core/errors')).ERR_USAGE(`invalid filter '${k}'`);
      }
      (filters[k] ??= []).push(f.slice(i + 1));
    }
    await svc.restore().catch(() => undefined);
    let views = (await svc.list()).sort((a, b) => Date.parse(b.rec.created) - Date.parse(a.rec.created) || (a.rec.id < b.rec.id ? 1 : -1));
    const last = p.bool('latest') ? 1 : p.num('last') ?? -1;
    const all = p.bool('all') || last > 0 || filters.status !== undefined || filters.exited !== undefined || !!filters.before || !!filters.since;
    let imageIds: Map<string, string> | undefined;
    if (filters.ancestor) {
      imageIds = new Map();
      try {
        const { imageService } = require('../../core/images/service') as typeof import('../../core/images/service');
        const images = (await ctx.engine()).use(imageService);
        for (const a of filters.ancestor) {
          try { imageIds.set(a, (await images.get(a)).id); } catch { /* unknown image matches by name only */ }
        }
      } catch { /* no image service */ }
    }
    const created = async (ref: string) => Date.parse((await svc.resolve(ref)).created);
    const before = filters.before ? Math.min(...(await Promise.all(filters.before.map(created)))) : undefined;
    const since = filters.since ? Math.max(...(await Promise.all(filters.since.map(created)))) : undefined;
    views = views.filter(({ rec, state }) => {
      const st = dockerStatus(state);
      const t = Date.parse(rec.created);
      if (before !== undefined && !(t < before)) return false;
      if (since !== undefined && !(t > since)) return false;
      if (filters.network && !filters.network.includes(rec.hostConfig.NetworkMode)) return false;
      if (filters.volume || filters.publish || filters.expose) return false; // no volumes or ports yet: nothing matches
      if (filters.health && !filters.health.includes('none')) return false;
      if (!all && st !== 'running' && st !== 'paused' && st !== 'restarting') return false;
      if (filters.status && !filters.status.includes(st)) return false;
      if (filters.exited && !(st === 'exited' && filters.exited.includes(String(state.exitCode ?? 0)))) return false;
      if (filters.name && !filters.name.some((n) => new RegExp(n.replace(/^\//, '')).test(rec.name))) return false;
      if (filters.id && !filters.id.some((i) => rec.id.startsWith(i))) return false;
      if (filters.label && !filters.label.every((l) => {
        const i = l.indexOf('=');
        return i < 0 ? l in rec.config.Labels : rec.config.Labels[l.slice(0, i)] === l.slice(i + 1);
      })) return false;
      if (filters.ancestor && !filters.ancestor.some((a) => rec.image === a || rec.image === `${a}:latest` || rec.imageId === a || imageIds?.get(a) === rec.imageId || rec.imageId.startsWith(`sha256:${a}`))) return false;
      return true;
    });
    if (last > 0) views = views.slice(0, last);
    const noTrunc = p.bool('no-trunc');
    const now = Date.now();
    // -s: the virtual size adds the image's own size, as Docker's SizeRootFs does.
    const imageSizes = new Map<string, number>();
    if (p.bool('size')) {
      try {
        const { imageService } = require('../../core/images/service') as typeof import('../../core/images/service');
        const images = (await ctx.engine()).use(imageService);
        for (const id of new Set(views.map((v) => v.rec.imageId).filter(Boolean))) {
          try { imageSizes.set(id, (await images.get(id)).size); } catch { /* image removed */ }
        }
      } catch { /* no image service */ }
    }
    const items = await Promise.all(views.map(async ({ rec, state }) => {
      const size = p.bool('size') ? await svc.sizeRw(rec) : 0;
      const virtual = size + (imageSizes.get(rec.imageId) ?? 0);
      const labels = Object.entries(rec.config.Labels).map(([k, v]) => `${k}=${v}`).join(',');
      return {
        ID: noTrunc ? rec.id : truncateId(rec.id),
        Image: rec.image,
        Command: quoteCommand([rec.path, ...rec.args].join(' '), noTrunc),
        CreatedAt: isoTime(Date.parse(rec.created)).replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
        RunningFor: `${humanDuration(now - Date.parse(rec.created))} ago`,
        Ports: '',
        Status: statusText(state, now),
        State: dockerStatus(state),
        Names: rec.name,
        Labels: labels,
        Size: p.bool('size') ? `${humanSize(size)} (virtual ${humanSize(virtual)})` : '0B',
        Mounts: '',
        Networks: rec.hostConfig.NetworkMode,
        LocalVolumes: '0',
      };
    }));
    const fmt = p.str('format');
    const def = `table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}${p.bool('size') ? '\t{{.Size}}' : ''}`;
    ctx.stdout.write(formatList(items, {
      ...(fmt !== undefined ? { format: fmt } : {}),
      defaultTableFormat: def,
      quiet: p.bool('quiet'),
      headers: { ID: 'CONTAINER ID', RunningFor: 'CREATED', CreatedAt: 'CREATED AT' },
    }));
  },
};

// ---- inspect ----------------------------------------------------------------------------------

const inspect: CliCommand = {
  spec: {
    name: 'inspect',
    aliases: ['container inspect'],
    usage: 'berth inspect [OPTIONS] NAME|ID [NAME|ID...]',
    description: 'Return low-level information on Docker objects',
    args: { min: 1 },
    flags: [
      { name: 'format', short: 'f', type: 'string', description: 'Format output using a custom template' },
      { name: 'size', short: 's', type: 'bool', description: 'Display total file sizes if the type is container' },
      { name: 'type', type: 'string', description: 'Return JSON for specified type (container, image)' },
    ],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const { ERR_CONTAINER_NOT_FOUND } = require('../../core/containers/service') as typeof import('../../core/containers/service');
    const out: unknown[] = [];
    let code = 0;
    let delegated = 0;
    const type = p.str('type');
    for (const ref of p.args) {
      try {
        if (type && type !== 'container') throw ERR_CONTAINER_NOT_FOUND(ref);
        const j = await svc.inspect(ref);
        if (p.bool('size')) {
          const rec = await svc.resolve(ref);
          j.SizeRw = await svc.sizeRw(rec);
          j.SizeRootFs = j.SizeRw;
        }
        out.push(j);
      } catch (e) {
        if (!ERR_CONTAINER_NOT_FOUND.is(e) || type === 'container') { errLine(ctx, e); code = 1; continue; }
        // Docker's CLI tries images next.
        const images = (() => { try { return (require('./images') as { commands: CliCommand[] }).commands; } catch { return []; } })();
        const ii = images.find((c) => c.spec.name === 'image inspect');
        if (!ii) { ctx.err(`Error: No such object: ${ref}`); code = 1; continue; }
        const { parseArgs } = require('../kit/args') as typeof import('../kit/args');
        const argv = [...(p.str('format') !== undefined ? ['--format', p.str('format')!] : []), ref];
        const errs: string[] = [];
        const outs: string[] = [];
        const c2 = { ...ctx, err: (l: string) => errs.push(l), out: (l: string) => outs.push(l) } as CliContext;
        const rc = await ii.run(c2, parseArgs(ii.spec, argv));
        if (rc) { ctx.err(`Error: No such object: ${ref}`); code = 1; } else { delegated++; for (const l of outs) ctx.out(l); }
      }
    }
    if (p.str('format') !== undefined || out.length || !delegated) for (const l of kit().formatInspect(out, p.str('format'))) ctx.out(l);
    return code;
  },
};

// ---- logs / wait / top / stats ----------------------------------------------------------------

const logs: CliCommand = {
  spec: {
    name: 'logs',
    aliases: ['container logs'],
    usage: 'berth logs [OPTIONS] CONTAINER',
    description: 'Fetch the logs of a container',
    args: { min: 1, max: 1 },
    flags: [
      { name: 'follow', short: 'f', type: 'bool', description: 'Follow log output' },
      { name: 'tail', short: 'n', type: 'string', default: 'all', description: 'Number of lines to show from the end of the logs' },
      { name: 'since', type: 'string', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
      { name: 'until', type: 'string', description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
      { name: 'timestamps', short: 't', type: 'bool', description: 'Show timestamps' },
      { name: 'details', type: 'bool', description: 'Show extra details provided to logs' },
    ],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const { readLogs, parseTimeArg } = require('../../core/containers/logs') as typeof import('../../core/containers/logs');
    const { rec } = await svc.view(p.args[0]!);
    const tailS = p.str('tail') ?? 'all';
    const tail = tailS === 'all' ? undefined : Number(tailS);
    if (tail !== undefined && !Number.isInteger(tail)) throw specMod().ERR_CONTAINER_BAD_OPTION('tail', tailS);
    const since = p.str('since');
    const until = p.str('until');
    const ts = p.bool('timestamps');
    const it = readLogs(svc.logPath(rec.id), {
      ...(tail !== undefined && tail >= 0 ? { tail } : {}),
      ...(since ? { since: parseTimeArg(since) } : {}),
      ...(until ? { until: parseTimeArg(until) } : {}),
      follow: p.bool('follow'),
      stillRunning: async () => {
        const s = await svc.state(rec);
        return s.status === 'running' || s.status === 'paused' || s.status === 'restarting';
      },
    });
    for await (const e of it) {
      const line = ts ? `${e.time} ${e.log}` : e.log;
      if (e.stream === 'stderr' && !rec.config.Tty) ctx.stderr.write(line);
      else ctx.stdout.write(line);
    }
  },
};

const wait: CliCommand = {
  spec: { name: 'wait', aliases: ['container wait'], usage: 'berth wait CONTAINER [CONTAINER...]', description: 'Block until one or more containers stop, then print their exit codes', args: { min: 1 }, flags: [] },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    return eachArg(ctx, p.args, async (ref) => {
      const r = await svc.wait(ref);
      ctx.out(String(r.exitCode));
    });
  },
};

const top: CliCommand = {
  spec: { name: 'top', aliases: ['container top'], usage: 'berth top CONTAINER [ps OPTIONS]', description: 'Display the running processes of a container', interspersed: false, args: { min: 1 }, flags: [] },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const [ref, ...psArgs] = p.args as [string, ...string[]];
    const r = await svc.top(ref, psArgs.length ? psArgs.join(' ') : '-ef');
    ctx.stdout.write(kit().renderTable([r.Titles, ...r.Processes], { minWidth: 0, padding: 3 }));
  },
};

function pct(n: number): string {
  return `${n.toFixed(2)}%`;
}

const stats: CliCommand = {
  spec: {
    name: 'stats',
    aliases: ['container stats'],
    usage: 'berth stats [OPTIONS] [CONTAINER...]',
    description: 'Display a live stream of container(s) resource usage statistics',
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Show all containers (default shows just running)' },
      { name: 'no-stream', type: 'bool', description: 'Disable streaming stats and only pull the first result' },
      { name: 'no-trunc', type: 'bool', description: "Don't truncate output" },
      { name: 'format', type: 'string', description: 'Format output using a custom template' },
    ],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const { humanSize, truncateId, formatList } = kit();
    const { dockerStatus } = require('../../core/containers/service') as typeof import('../../core/containers/service');
    const pick = async () => {
      const views = p.args.length ? await Promise.all(p.args.map((a) => svc.view(a))) : (await svc.list()).filter((v) => p.bool('all') || dockerStatus(v.state) === 'running');
      return views;
    };
    const sample = async (views: Awaited<ReturnType<typeof pick>>) => Promise.all(views.map(async (v) => ({ v, s: await svc.backend(v.rec).stats(v.rec.id) })));
    const render = (a: Awaited<ReturnType<typeof sample>>, b: Awaited<ReturnType<typeof sample>>) => b.map(({ v, s }, i) => {
      const prev = a[i]?.s;
      const dCpu = prev ? s.cpuUsageNs - prev.cpuUsageNs : 0;
      const dSys = prev && s.systemCpuNs && prev.systemCpuNs ? s.systemCpuNs - prev.systemCpuNs : 0;
      const cpu = dSys > 0 && dCpu > 0 ? (dCpu / dSys) * s.onlineCpus * 100 : 0;
      const memPct = s.memoryLimit ? (s.memoryUsage / s.memoryLimit) * 100 : 0;
      const bin = (n: number) => humanSize(n).replace(/([kMGT]?)B$/, (_m, u: string) => (u ? `${u === 'k' ? 'K' : u}iB` : 'B'));
      return {
        ID: p.bool('no-trunc') ? v.rec.id : truncateId(v.rec.id), Container: p.args[i] ?? truncateId(v.rec.id), Name: v.rec.name,
        CPUPerc: pct(cpu), MemUsage: `${bin(s.memoryUsage)} / ${bin(s.memoryLimit)}`, MemPerc: pct(memPct),
        NetIO: '0B / 0B', BlockIO: `${humanSize(s.blkioRead)} / ${humanSize(s.blkioWrite)}`, PIDs: String(s.pids),
      };
    });
    const fmt = p.str('format');
    const print = (rows: object[]) => formatList(rows, {
      ...(fmt !== undefined ? { format: fmt } : {}),
      defaultTableFormat: 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}',
      headers: { ID: 'CONTAINER ID', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS' },
    });
    let views = await pick();
    let a = await sample(views);
    await new Promise((r) => setTimeout(r, 500));
    let b = await sample(views);
    if (p.bool('no-stream')) {
      ctx.stdout.write(print(render(a, b)));
      return;
    }
    for (;;) {
      if (ctx.stdout.isTTY) ctx.stdout.write('\x1b[2J\x1b[H');
      ctx.stdout.write(print(render(a, b)));
      await new Promise((r) => setTimeout(r, 1000));
      views = await pick();
      a = b;
      b = await sample(views);
    }
  },
};

// ---- attach / exec ----------------------------------------------------------------------------

const attach: CliCommand = {
  spec: {
    name: 'attach',
    aliases: ['container attach'],
    usage: 'berth attach [OPTIONS] CONTAINER',
    description: "Attach local standard input, output, and error streams to a running container",
    args: { min: 1, max: 1 },
    flags: [
      { name: 'no-stdin', type: 'bool', description: 'Do not attach STDIN' },
      { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
      { name: 'sig-proxy', type: 'bool', default: true, description: 'Proxy all received signals to the process' },
    ],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const { AttachClient, attachName } = require('../../core/containers/attach') as typeof import('../../core/containers/attach');
    const { rec, state } = await svc.view(p.args[0]!);
    const { ERR_CONTAINER_NOT_RUNNING, ERR_CONTAINER_PAUSED } = require('../../core/containers/service') as typeof import('../../core/containers/service');
    if (state.status === 'paused') throw ERR_CONTAINER_PAUSED(rec.id);
    if (state.status !== 'running') throw ERR_CONTAINER_NOT_RUNNING(rec.id);
    const client = await AttachClient.connect(attachName(svc.root, rec.id));
    const code = await session(ctx, client, {
      tty: rec.config.Tty, stdin: !p.bool('no-stdin') && rec.config.OpenStdin,
      ...(p.str('detach-keys') ? { detachKeys: p.str('detach-keys')! } : {}),
      onSignal: (sig) => { if (p.bool('sig-proxy')) void svc.kill(rec.id, sig).catch(() => undefined); },
    });
    if (code === undefined) {
      ctx.err('read escape sequence');
      return 0;
    }
    return code;
  },
};

const exec: CliCommand = {
  spec: {
    name: 'exec',
    aliases: ['container exec'],
    usage: 'berth exec [OPTIONS] CONTAINER COMMAND [ARG...]',
    description: 'Execute a command in a running container',
    interspersed: false,
    args: { min: 2 },
    flags: [
      { name: 'interactive', short: 'i', type: 'bool', description: 'Keep STDIN open even if not attached' },
      { name: 'tty', short: 't', type: 'bool', description: 'Allocate a pseudo-TTY' },
      { name: 'detach', short: 'd', type: 'bool', description: 'Detached mode: run command in the background' },
      { name: 'user', short: 'u', type: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
      { name: 'workdir', short: 'w', type: 'string', description: 'Working directory inside the container' },
      { name: 'env', short: 'e', type: 'list', description: 'Set environment variables' },
      { name: 'env-file', type: 'list', description: 'Read in a file of environment variables' },
      { name: 'privileged', type: 'bool', description: 'Give extended privileges to the command' },
      { name: 'detach-keys', type: 'string', description: 'Override the key sequence for detaching a container' },
    ],
  },
  // exec enters a running container: no storage driver is involved (boots faster).
  plugins: [HOST, ISOLATION],
  runLike: true,
  async run(ctx, p) {
    // berth-nsrun (or the runtime) joins the container's cgroups: pay the kernel's wait for that
    // now, while the engine opens (see primeCgroupMigration).
    (require('../../core/containers/service') as typeof import('../../core/containers/service')).primeCgroupMigration();
    const svc = await service(ctx);
    const [ref, ...cmd] = p.args as [string, ...string[]];
    const detach = p.bool('detach');
    const tty = p.bool('tty');
    const stdio: Array<number | 'ignore'> = detach ? ['ignore', 'ignore', 'ignore'] : [p.bool('interactive') || tty ? 0 : 'ignore', 1, 2];
    const env = envList(p);
    return svc.exec(ref, {
      cmd, tty, detach, stdio, privileged: p.bool('privileged'),
      ...(env.length ? { env } : {}),
      ...(p.str('workdir') ? { workdir: p.str('workdir')! } : {}),
      ...(p.str('user') ? { user: p.str('user')! } : {}),
    });
  },
};

// ---- cp / export / commit ---------------------------------------------------------------------

function splitCpArg(a: string): { container?: string; path: string } {
  if (a.startsWith('/') || a.startsWith('.') || a === '-') return { path: a };
  const i = a.indexOf(':');
  if (i <= 0) return { path: a };
  return { container: a.slice(0, i), path: a.slice(i + 1) };
}

const cp: CliCommand = {
  spec: {
    name: 'cp',
    aliases: ['container cp'],
    usage: 'berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
    description: 'Copy files/folders between a container and the local filesystem',
    args: { min: 2, max: 2 },
    flags: [
      { name: 'archive', short: 'a', type: 'bool', description: 'Archive mode (copy all uid/gid information)' },
      { name: 'follow-link', short: 'L', type: 'bool', description: 'Always follow symbol link in SRC_PATH' },
      { name: 'quiet', short: 'q', type: 'bool', description: 'Suppress progress output during copy' },
    ],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const { ERR_USAGE } = require('../../core/errors') as typeof import('../../core/errors');
    const src = splitCpArg(p.args[0]!);
    const dst = splitCpArg(p.args[1]!);
    if (!!src.container === !!dst.container) throw ERR_USAGE(src.container ? 'copying between containers is not supported' : 'must specify at least one container source');
    const svc = await service(ctx);
    const { scopedPath } = require('../../core/containers/service') as typeof import('../../core/containers/service');
    const engine = await ctx.engine();
    const ops = engine.host().ops;
    const { existsSync, statSync } = require('node:fs') as typeof import('node:fs');
    const { basename, dirname } = require('node:path') as typeof import('node:path');
    const rec = await svc.resolve((src.container ?? dst.container)!);
    await svc.withRootfs(rec, async (root) => {
      if (src.container) {
        const inPath = src.path.endsWith('/.') ? src.path.slice(0, -2) : src.path;
        const from = p.bool('follow-link') ? scopedPath(root, inPath) : `${scopedPath(root, dirname(inPath))}/${basename(inPath)}`.replace(/\/\/+/g, '/');
        if (!existsSync(from) && !statOk(from)) throw specMod().ERR_CONTAINER_BAD_OPTION('path', `Could not find the file ${src.path} in container ${p.args[0]!.split(':')[0]}`);
        if (dst.path === '-') {
          const { spawn } = require('node:child_process') as typeof import('node:child_process');
          await new Promise<void>((res, rej) => {
            const c = spawn('tar', ['-C', dirname(from), '-cf', '-', basename(from)], { stdio: ['ignore', 'inherit', 'inherit'] });
            c.on('error', rej);
            c.on('close', (code) => (code === 0 ? res() : rej(new Error(`tar exited ${code}`))));
          });
          return;
        }
        const contents = src.path.endsWith('/.');
        if (contents) await ops.exec('cp', ['-a', '-T', from, dst.path]);
        else await ops.exec('cp', ['-a', from, dst.path]);
      } else {
        const to = scopedPath(root, dst.path);
        if (src.path === '-') {
          const { spawn } = require('node:child_process') as typeof import('node:child_process');
          await new Promise<void>((res, rej) => {
            const c = spawn('tar', ['-C', to, '--no-overwrite-dir', '-xf', '-'], { stdio: ['inherit', 'inherit', 'inherit'] });
            c.on('error', rej);
            c.on('close', (code) => (code === 0 ? res() : rej(new Error(`tar exited ${code}`))));
          });
          return;
        }
        if (!existsSync(src.path)) throw specMod().ERR_CONTAINER_BAD_OPTION('path', `lstat ${src.path}: no such file or directory`);
        const isDir = (() => { try { return statSync(to).isDirectory(); } catch { return false; } })();
        if (src.path.endsWith('/.')) await ops.exec('cp', ['-a', '-T', src.path.slice(0, -2), to]);
        else await ops.exec('cp', ['-a', '--no-dereference', src.path, isDir ? `${to}/` : to]);
      }
    });
    if (!p.bool('quiet') && dst.path !== '-' && ctx.stderr.isTTY) ctx.err(`Successfully copied to ${p.args[1]}`);
  },
};

function statOk(p: string): boolean {
  try { (require('node:fs') as typeof import('node:fs')).lstatSync(p); return true; } catch { return false; }
}

const exportCmd: CliCommand = {
  spec: {
    name: 'export',
    aliases: ['container export'],
    usage: 'berth export [OPTIONS] CONTAINER',
    description: "Export a container's filesystem as a tar archive",
    args: { min: 1, max: 1 },
    flags: [{ name: 'output', short: 'o', type: 'string', description: 'Write to a file, instead of STDOUT' }],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const out = p.str('output');
    const { ERR_USAGE } = require('../../core/errors') as typeof import('../../core/errors');
    if (!out && ctx.stdout.isTTY) throw ERR_USAGE('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const rec = await svc.resolve(p.args[0]!);
    const { spawn } = require('node:child_process') as typeof import('node:child_process');
    await svc.withRootfs(rec, (root) => new Promise<void>((res, rej) => {
      const c = spawn('tar', ['--numeric-owner', '--xattrs', '-C', root, '-cf', out ?? '-', '.'], { stdio: ['ignore', out ? 'ignore' : 'inherit', 'inherit'] });
      c.on('error', rej);
      c.on('close', (code) => (code === 0 ? res() : rej(new Error(`tar exited ${code}`))));
    }));
    await (await ctx.engine()).events.publish({ Type: 'container', Action: 'export', Actor: { ID: rec.id, Attributes: { name: rec.name, image: rec.image } } });
  },
};

const commit: CliCommand = {
  spec: {
    name: 'commit',
    aliases: ['container commit'],
    usage: 'berth commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
    description: "Create a new image from a container's changes",
    args: { min: 1, max: 2 },
    flags: [
      { name: 'author', short: 'a', type: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
      { name: 'change', short: 'c', type: 'list', description: 'Apply Dockerfile instruction to the created image' },
      { name: 'message', short: 'm', type: 'string', description: 'Commit message' },
      { name: 'pause', short: 'p', type: 'bool', default: true, description: 'Pause container during commit' },
    ],
  },
  plugins: [...PLUGINS, TRANSPORT],
  async run(ctx, p) {
    const svc = await service(ctx);
    const { commitContainer } = require('../../core/containers/commit') as typeof import('../../core/containers/commit');
    const id = await commitContainer(await ctx.engine(), svc, p.args[0]!, {
      ...(p.args[1] ? { tag: p.args[1] } : {}),
      ...(p.str('author') ? { author: p.str('author')! } : {}),
      ...(p.str('message') ? { message: p.str('message')! } : {}),
      changes: p.list('change'),
      pause: p.bool('pause'),
    });
    ctx.out(id);
  },
};

// ---- rename / port / prune --------------------------------------------------------------------

const rename: CliCommand = {
  spec: { name: 'rename', aliases: ['container rename'], usage: 'berth rename CONTAINER NEW_NAME', description: 'Rename a container', args: { min: 2, max: 2 }, flags: [] },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    await svc.rename(p.args[0]!, p.args[1]!);
  },
};

const port: CliCommand = {
  spec: { name: 'port', aliases: ['container port'], usage: 'berth port CONTAINER [PRIVATE_PORT[/PROTO]]', description: 'List port mappings or a specific mapping for the container', args: { min: 1, max: 2 }, flags: [] },
  plugins: PLUGINS,
  async run(ctx, p) {
    const svc = await service(ctx);
    const rec = await svc.resolve(p.args[0]!);
    // Without a network plugin no port is ever published; Docker prints nothing in that case,
    // and an error for a specific port.
    if (p.args[1]) {
      ctx.err(`Error: No public port '${p.args[1].includes('/') ? p.args[1] : `${p.args[1]}/tcp`}' published for ${rec.name}`);
      return 1;
    }
  },
};

const containerPrune: CliCommand = {
  spec: {
    name: 'container prune',
    usage: 'berth container prune [OPTIONS]',
    description: 'Remove all stopped containers',
    args: { max: 0 },
    flags: [
      { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
      { name: 'filter', type: 'list', description: "Provide filter values (e.g. 'until=<timestamp>')" },
    ],
  },
  plugins: PLUGINS,
  async run(ctx, p) {
    if (!p.bool('force')) {
      ctx.stdout.write('WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ');
      const answer = await new Promise<string>((res) => {
        ctx.stdin.once('data', (d) => res(String(d)));
        ctx.stdin.once('end', () => res(''));
        ctx.stdin.resume();
      });
      ctx.stdin.pause();
      if (!/^y(es)?$/i.test(answer.trim())) return 0;
    }
    const filters: Record<string, string[]> = {};
    for (const f of p.list('filter')) {
      const i = f.indexOf('=');
      (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1));
    }
    const svc = await service(ctx);
    const r = await svc.prune(filters);
    if (r.removed.length) ctx.out(`Deleted Containers:\n${r.removed.join('\n')}\n`);
    ctx.out(`Total reclaimed space: ${kit().humanSize(r.reclaimed)}`);
  },
};

export const commands: CliCommand[] = [
  run, create, start, stop, kill, restart, pause, unpause, rm, ps, inspect, logs, wait, top, stats, attach, exec, cp, rename, port,
  exportCmd, commit, containerPrune,
];
