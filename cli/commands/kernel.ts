/**
 * Commands about the engine itself: version, info, plugin ls, doctor, events, and the system
 * maintenance commands (df, check, prune) that every kind of object plugs into through
 * core/maintenance.ts.
 */
import type { CliCommand, CliContext } from '../command';
import type { Parsed } from '../kit/args';
import type { Engine } from '../../core/engine';
import type { PluginRecord } from '../../core/plugin';
import type { HostFeatures } from '../../core/contracts/host';
import { isoTime } from '../../core/time';

const kit = () => require('../kit') as typeof import('../kit');
const maint = () => require('../../core/maintenance') as typeof import('../../core/maintenance');

/** Loads the service modules so that their maintainers register themselves. */
function loadMaintainers(): void {
  maint();
  require('../../core/kernel-maintainer');
  require('../../core/images/service');
  require('../../core/containers/service');
  require('../../core/volumes/service');
  // Storage leftovers (snapshot dirs of interrupted operations) even when no driver booted.
  (require('../../plugins/storage/common/maintainer') as typeof import('../../plugins/storage/common/maintainer')).registerStorageMaintainer();
}

const formatFlag = { name: 'format', short: 'f', type: 'string' as const, description: 'Format output using a custom template (\'json\' or a Go template)' };

function engineVersionInfo(): Omit<VersionInfo, 'Platform'> {
  const { VERSION, API_VERSION } = require('../../core/version') as typeof import('../../core/version');
  const { ociArch } = require('../../plugins/host/linux/probe') as typeof import('../../plugins/host/linux/probe');
  return {
    Version: VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: '1.24',
    NodeVersion: process.version,
    Os: process.platform,
    Arch: ociArch(),
    KernelVersion: require('node:os').release() as string,
  };
}

const version: CliCommand = {
  spec: { name: 'version', usage: 'berth version [OPTIONS]', description: 'Show the berth version information', flags: [formatFlag], args: { max: 0 } },
  plugins: [],
  async run(ctx, p) {
    const v = engineVersionInfo();
    printVersion(ctx, p, { Client: { ...v, Platform: { Name: 'berth' } }, Server: { ...v, Platform: { Name: 'berth engine (daemonless)' } } });
  },
  async remote(ctx, p) {
    // The engine at -H answers for itself (GET /version), as `docker version` shows the daemon's.
    const doc = await ctx.remote!.json<Record<string, unknown>>('GET', '/version');
    const str = (k: string) => (typeof doc[k] === 'string' ? (doc[k] as string) : '');
    const platform = (doc.Platform as { Name?: unknown } | undefined)?.Name;
    const server: VersionInfo = {
      Version: str('Version'),
      ApiVersion: str('ApiVersion'),
      MinAPIVersion: str('MinAPIVersion'),
      // berth serve reports its Node.js version where dockerd reports Go's
      NodeVersion: str('GoVersion'),
      Os: str('Os'),
      Arch: str('Arch'),
      KernelVersion: str('KernelVersion'),
      Platform: { Name: typeof platform === 'string' && platform !== '' ? platform : 'engine' },
    };
    printVersion(ctx, p, { Client: { ...engineVersionInfo(), Platform: { Name: 'berth' } }, Server: server }, ctx.remote!.address.text);
  },
};

interface VersionInfo {
  Version: string;
  ApiVersion: string;
  MinAPIVersion: string;
  NodeVersion: string;
  Os: string;
  Arch: string;
  KernelVersion: string;
  Platform: { Name: string };
}

/** `version`'s output (or `--format` over the same data); `host` names a remote engine. */
function printVersion(ctx: CliContext, p: Parsed, data: { Client: VersionInfo; Server: VersionInfo }, host?: string): void {
  const fmt = p.str('format');
  if (fmt !== undefined) {
    ctx.out(fmt === 'json' ? JSON.stringify(data) : kit().renderTemplate(fmt, data));
    return;
  }
  for (const [title, s] of [['Client', data.Client], ['Engine', data.Server]] as const) {
    ctx.out(`${title}:${title === 'Engine' && host !== undefined ? ` ${s.Platform.Name} at ${host}` : ''}`);
    ctx.out(` Version:           ${s.Version}`);
    ctx.out(` API version:       ${s.ApiVersion}`);
    ctx.out(` ${s.Platform.Name.startsWith('berth') ? 'Node.js version:  ' : 'Runtime version:  '} ${s.NodeVersion}`);
    ctx.out(` OS/Arch:           ${s.Os}/${s.Arch}`);
    if (title === 'Engine') ctx.out(` Kernel version:    ${s.KernelVersion}`);
  }
}

/** The plugin records, including those not booted because of `onlyTypes`. */
function pluginRows(engine: Engine): PluginRecord[] {
  return engine.plugins.records;
}

function featureLines(f: HostFeatures): string[] {
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const links = Object.entries(f.linkTypes).map(([k, v]) => `${k}${v ? '' : ' (missing)'}`).join(', ');
  const cg = f.cgroup;
  return [
    `Kernel Version: ${f.kernel}`,
    `Architecture: ${f.arch}`,
    `Namespaces: ${f.namespaces.join(', ')}`,
    `Cgroup Version: ${cg.mode}${cg.mode === 'hybrid' ? ` (v1 controllers: ${cg.v1Controllers.join(',')}; cgroup2 at ${cg.v2Mount} holds: ${cg.v2Controllers.join(',') || 'none'})` : ''}`,
    `Overlayfs: ${yes(f.overlayfs)}`,
    `Firewall: iptables ${f.firewall.iptables ?? 'missing'}; nft ${f.firewall.nft ?? 'missing'}`,
    `Link Types: ${links}`,
    `OCI Runtimes: ${Object.entries(f.runtimes).map(([k, v]) => `${k} ${v}`).join('; ') || 'none'}`,
    `User Namespaces: max ${f.userns.maxUserNamespaces}${f.userns.subuid ? ', /etc/subuid present' : ''}`,
    `Running as root: ${yes(f.isRoot)}`,
  ];
}

/** The codec backends chosen for this root (measured once, cached in `<root>/codecs.json`). */
function codecChoice(engine: Engine): Record<string, unknown> | undefined {
  try {
    const { selectBackends } = require('../../wasm/src/select') as typeof import('../../wasm/src/select');
    const force: Record<string, 'wasm' | 'native'> = {};
    for (const op of ['sha256', 'gunzip'] as const) if (engine.config.codecs[op] !== 'auto') force[op] = engine.config.codecs[op] as 'wasm' | 'native';
    return selectBackends({ cacheFile: `${engine.root}/codecs.json`, force }) as unknown as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

const info: CliCommand = {
  spec: { name: 'info', aliases: ['system info'], usage: 'berth info [OPTIONS]', description: 'Display engine-wide information', flags: [formatFlag], args: { max: 0 } },
  async remote(ctx, p) {
    // The engine at -H describes itself in Docker's `GET /info` shape; `--format` sees its fields.
    const doc = await ctx.remote!.json<Record<string, unknown>>('GET', '/info');
    const fmt = p.str('format');
    if (fmt !== undefined) {
      ctx.out(fmt === 'json' ? JSON.stringify(doc) : kit().renderTemplate(fmt, doc));
      return;
    }
    const field = (k: string) => (doc[k] === undefined || doc[k] === null || doc[k] === '' ? '-' : String(doc[k]));
    ctx.out(`Engine at ${ctx.remote!.address.text}:`);
    ctx.out(` Version: ${field('ServerVersion')}`);
    ctx.out(` Root Dir: ${field('DockerRootDir')}`);
    ctx.out(` Storage Driver: ${field('Driver')}`);
    ctx.out(` Operating System: ${field('OperatingSystem')}`);
    ctx.out(` Kernel Version: ${field('KernelVersion')}`);
    ctx.out(` Architecture: ${field('Architecture')}`);
    ctx.out(` CPUs: ${field('NCPU')}`);
    ctx.out(` Total Memory: ${typeof doc.MemTotal === 'number' ? kit().humanSize(doc.MemTotal) : '-'}`);
    ctx.out(` Name: ${field('Name')}`);
    ctx.out(` Images: ${field('Images')}`);
    ctx.out(` Containers: ${field('Containers')}`);
  },
  async run(ctx, p) {
    const engine = await ctx.engine();
    const v = engineVersionInfo();
    const records = pluginRows(engine);
    let host: HostFeatures | undefined;
    try {
      host = engine.host().features;
    } catch {
      host = undefined;
    }
    const storage = tryId(() => engine.storage().name);
    const isolation = tryId(() => (engine.isolation() as { name: string }).name);
    const data = {
      ServerVersion: v.Version,
      ApiVersion: v.ApiVersion,
      StateRoot: engine.root,
      ConfigFile: engine.configFile,
      Driver: storage,
      Isolation: isolation,
      Plugins: records.map((r) => ({ Kind: r.type, Id: r.id, Status: r.status, Reason: r.reason ?? '', Fix: r.fix ?? '', InitMs: Math.round(r.ms * 10) / 10, Capabilities: r.meta.capabilities, Exports: r.meta.exports })),
      Host: host,
      Codecs: codecChoice(engine),
      Registries: engine.config.registries,
      OperatingSystem: readOsName(),
      NodeVersion: process.version,
    };
    const fmt = p.str('format');
    if (fmt !== undefined) {
      ctx.out(fmt === 'json' ? JSON.stringify(data) : kit().renderTemplate(fmt, data));
      return;
    }
    ctx.out('Engine:');
    ctx.out(` Version: ${data.ServerVersion} (API ${data.ApiVersion})`);
    ctx.out(` State Root: ${data.StateRoot}`);
    ctx.out(` Config File: ${data.ConfigFile}`);
    ctx.out(` Storage Driver: ${storage}`);
    ctx.out(` Isolation Backend: ${isolation}`);
    ctx.out(` Operating System: ${data.OperatingSystem}`);
    ctx.out(` Node.js: ${data.NodeVersion}`);
    ctx.out(' Plugins:');
    const rows = [['  KIND', 'ID', 'STATUS', 'REASON'], ...records.map((r) => [`  ${r.type}`, r.id, r.status, r.reason ?? ''])];
    ctx.stdout.write(kit().renderTable(rows));
    if (data.Codecs) {
      ctx.out(' Codecs:');
      for (const [op, c] of Object.entries(data.Codecs)) {
        const choice = c as { backend?: string; mbps?: number };
        ctx.out(`  ${op}: ${choice.backend ?? '?'}${choice.mbps ? ` (${Math.round(choice.mbps)} MB/s measured)` : ''}`);
      }
    }
    if (host) {
      ctx.out('Host:');
      for (const l of featureLines(host)) ctx.out(` ${l}`);
    }
    const insecure = engine.config.registries.insecure;
    if (insecure.length) ctx.out(`Insecure Registries:\n${insecure.map((r) => ` ${r}`).join('\n')}`);
    const mirrors = Object.entries(engine.config.registries.mirrors);
    if (mirrors.length) ctx.out(`Registry Mirrors:\n${mirrors.map(([h, m]) => ` ${h}: ${m.join(', ')}`).join('\n')}`);
  },
};

function tryId(f: () => string): string {
  try {
    return f();
  } catch (e) {
    return `none (${(e as Error).message})`;
  }
}

function readOsName(): string {
  try {
    const text = require('node:fs').readFileSync('/etc/os-release', 'utf8') as string;
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'linux';
  } catch {
    return 'linux';
  }
}

const pluginLs: CliCommand = {
  spec: {
    name: 'plugin ls', aliases: ['plugin list'], usage: 'berth plugin ls [OPTIONS]', description: 'List plugins',
    flags: [formatFlag, { name: 'quiet', short: 'q', type: 'bool', description: 'Only display plugin URIs' }, { name: 'no-trunc', type: 'bool', description: "Don't truncate output" }],
    args: { max: 0 },
  },
  async run(ctx, p) {
    const engine = await ctx.engine();
    const items = pluginRows(engine).map((r) => ({
      URI: r.uri, Kind: r.type, ID: r.id, Status: r.status, Reason: r.reason ?? '', Description: r.description ?? '',
      Capabilities: r.meta.capabilities.join(','), InitTime: `${r.ms.toFixed(1)}ms`,
    }));
    ctx.stdout.write(kit().formatList(items, {
      ...(p.str('format') !== undefined ? { format: p.str('format')! } : {}),
      defaultTableFormat: 'table {{.Kind}}\t{{.ID}}\t{{.Status}}\t{{.InitTime}}\t{{.Reason}}',
      headers: { InitTime: 'INIT', Kind: 'KIND', ID: 'ID', Status: 'STATUS', Reason: 'REASON' },
      quiet: p.bool('quiet'),
      quietField: 'URI',
    }));
  },
};

/** One finding of `berth doctor`. */
interface Finding { area: string; problem: string; fix?: string }

function hostFindings(f: HostFeatures): Finding[] {
  const out: Finding[] = [];
  if (!f.isRoot) out.push({ area: 'privileges', problem: 'berth is not running as root: namespaces, mounts and cgroups need root (rootless mode is not supported yet)', fix: 'sudo berth …' });
  for (const ns of ['mnt', 'pid', 'uts', 'ipc', 'net', 'cgroup', 'user']) {
    if (!f.namespaces.includes(ns)) out.push({ area: 'namespaces', problem: `the kernel offers no ${ns} namespace`, fix: `a kernel built with CONFIG_${ns.toUpperCase()}_NS` });
  }
  if (f.cgroup.mode === 'none') out.push({ area: 'cgroups', problem: 'no cgroup filesystem is mounted', fix: 'mount -t cgroup2 none /sys/fs/cgroup' });
  if (f.cgroup.mode === 'hybrid' && f.cgroup.v2Controllers.length) {
    const ctl = f.cgroup.v2Controllers;
    out.push({
      area: 'cgroups',
      problem: `hybrid cgroups: the cgroup2 mount at ${f.cgroup.v2Mount} holds controller(s) ${ctl.join(', ')}; crun 1.8 refuses every container on such hosts (runc works, and berth's oci plugin prefers it here)`,
      fix: ctl.map((c) => `mkdir -p /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`).join(' && '),
    });
  }
  if (!f.overlayfs) out.push({ area: 'storage', problem: 'overlayfs is not available: the overlay storage driver is skipped (vfs works, slower)', fix: 'modprobe overlay' });
  if (!f.firewall.iptables && !f.firewall.nft) out.push({ area: 'network', problem: 'neither iptables nor nft is installed: port publishing and NAT are unavailable', fix: 'apt-get install -y iptables' });
  for (const [t, ok] of Object.entries(f.linkTypes)) {
    if (!ok) out.push({ area: 'network', problem: `the kernel cannot create ${t} links: the ${t} network driver is unavailable`, fix: `modprobe ${t} (or a kernel built with CONFIG_${t.toUpperCase()})` });
  }
  if (!Object.keys(f.runtimes).length) out.push({ area: 'isolation', problem: 'no OCI runtime (crun, runc, youki) on PATH: the oci backend is skipped (the built-in ns backend may still work)', fix: 'apt-get install -y crun runc' });
  for (const [tool, pkg] of [['unshare', 'util-linux'], ['nsenter', 'util-linux'], ['ip', 'iproute2'], ['mount', 'mount']] as const) {
    if (!f.tools[tool]) out.push({ area: 'tools', problem: `${tool} is missing`, fix: `apt-get install -y ${pkg}` });
  }
  if (!f.tools.tini && !f.tools.catatonit) out.push({ area: 'isolation', problem: 'no init for --init (tini or catatonit)', fix: 'apt-get install -y tini' });
  return out;
}

const doctor: CliCommand = {
  spec: { name: 'doctor', usage: 'berth doctor [OPTIONS]', description: 'Explain what is missing on this host for each plugin, and how to fix it', flags: [formatFlag], args: { max: 0 } },
  async run(ctx, p) {
    // Probe afresh: the point of doctor is to see the host as it is now.
    const { Engine } = require('../../core/engine') as typeof import('../../core/engine');
    const { builtins } = require('../../plugins/builtins') as typeof import('../../plugins/builtins');
    const engine = await Engine.open({
      registrations: builtins,
      ...(ctx.globals.root !== undefined ? { root: ctx.globals.root } : {}),
      ...(ctx.globals.config !== undefined ? { configFile: ctx.globals.config } : {}),
      pluginOverrides: { linux: { 'probe-cache': false } },
    });
    try {
      const findings: Finding[] = [];
      for (const r of engine.plugins.records) {
        if (r.status === 'ok') continue;
        findings.push({ area: `plugin ${r.uri}`, problem: `${r.status}: ${r.reason ?? ''}`, ...(r.fix ? { fix: r.fix } : {}) });
      }
      try {
        findings.push(...hostFindings(engine.host().features));
      } catch (e) {
        findings.push({ area: 'host', problem: `host probe unavailable: ${(e as Error).message}` });
      }
      const fmt = p.str('format');
      if (fmt !== undefined) {
        ctx.out(fmt === 'json' ? JSON.stringify(findings) : findings.map((f) => kit().renderTemplate(fmt, f)).join('\n'));
        return 0;
      }
      const ok = engine.plugins.records.filter((r) => r.status === 'ok').map((r) => r.uri);
      ctx.out(`Plugins ready: ${ok.join(', ') || 'none'}`);
      if (!findings.length) {
        ctx.out('No problems found.');
        return 0;
      }
      ctx.out(`${findings.length} finding(s):`);
      for (const f of findings) {
        ctx.out(`- [${f.area}] ${f.problem}`);
        if (f.fix) ctx.out(`    fix: ${f.fix}`);
      }
      return 0;
    } finally {
      await engine.close();
    }
  },
};

const events: CliCommand = {
  spec: {
    name: 'events', aliases: ['system events'], usage: 'berth events [OPTIONS]', description: 'Get real time events from the engine',
    flags: [
      { name: 'filter', type: 'list', description: 'Filter output based on conditions provided (type=, event=, container=, image=, label=, network=, volume=)' },
      formatFlag,
      { name: 'since', type: 'string', description: 'Show all events created since timestamp' },
      { name: 'until', type: 'string', description: 'Stream events until this timestamp' },
    ],
    args: { max: 0 },
  },
  plugins: [],
  async run(ctx, p) {
    const engine = await ctx.engine();
    const filters: Record<string, string[]> = {};
    for (const f of p.list('filter')) {
      const i = f.indexOf('=');
      if (i <= 0) throw (require('../../core/errors') as typeof import('../../core/errors')).ERR_USAGE(`bad format of filter (expected name=value): ${f}`);
      (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1));
    }
    const since = p.str('since') !== undefined ? parseTimestamp(p.str('since')!) : undefined;
    const until = p.str('until') !== undefined ? parseTimestamp(p.str('until')!) : undefined;
    const fmt = p.str('format');
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    for await (const e of engine.events.subscribe({ filters, ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) }, ac.signal)) {
      if (fmt === 'json' || fmt === '{{json .}}') ctx.out(JSON.stringify(e));
      else if (fmt !== undefined) ctx.out(kit().renderTemplate(fmt, e));
      else {
        const when = isoTime(e.timeNano / 1e6).replace('Z', '000000Z');
        const attrs = Object.entries(e.Actor.Attributes).sort().map(([k, v]) => `${k}=${v}`).join(', ');
        ctx.out(`${when} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs ? ` (${attrs})` : ''}`);
      }
    }
  },
};

/** Docker accepts unix seconds, RFC 3339 dates, and durations relative to now (`10m`). */
export function parseTimestamp(s: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  const rel = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s);
  if (rel) {
    const mult = { ms: 0.001, s: 1, m: 60, h: 3600 }[rel[2] as 'ms' | 's' | 'm' | 'h'];
    return now / 1000 - Number(rel[1]) * mult;
  }
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw (require('../../core/errors') as typeof import('../../core/errors')).ERR_USAGE(`invalid timestamp ${JSON.stringify(s)}: want unix seconds, RFC 3339 or a duration like 10m`);
  return t / 1000;
}

const systemDf: CliCommand = {
  spec: { name: 'system df', usage: 'berth system df [OPTIONS]', description: 'Show berth disk usage', flags: [formatFlag, { name: 'verbose', short: 'v', type: 'bool', description: 'Show detailed information on space usage' }], args: { max: 0 } },
  async run(ctx, p) {
    const engine = await ctx.engine();
    loadMaintainers();
    const rows = [];
    for (const m of maint().listMaintainers()) if (m.df) rows.push(...(await m.df(engine)));
    const { humanSize } = kit();
    const items = rows.map((r) => ({
      Type: r.type, TotalCount: String(r.total), Active: String(r.active), Size: humanSize(r.size),
      Reclaimable: `${humanSize(r.reclaimable)} (${r.size ? Math.round((100 * r.reclaimable) / r.size) : 0}%)`,
    }));
    ctx.stdout.write(kit().formatList(items, {
      ...(p.str('format') !== undefined ? { format: p.str('format')! } : {}),
      defaultTableFormat: 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}',
      headers: { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' },
    }));
  },
};

const systemCheck: CliCommand = {
  spec: { name: 'system check', usage: 'berth system check [OPTIONS]', description: 'Check the consistency of the state root (records, blobs, snapshots)', flags: [formatFlag, { name: 'repair', type: 'bool', description: 'Remove leftovers of interrupted operations (temp files, partial ingests of dead writers)' }], args: { max: 0 } },
  async run(ctx, p) {
    const engine = await ctx.engine();
    loadMaintainers();
    if (p.bool('repair')) {
      const n = await engine.metadata.repair();
      const m = await engine.content.cleanupIngests(0);
      ctx.err(`repaired: ${n} temp file(s), ${m} partial ingest(s)`);
    }
    const issues: Array<{ Area: string; Kind: string; Path: string; Message: string; Leftover: boolean }> = [];
    for (const m of maint().listMaintainers()) {
      if (!m.check) continue;
      for (const i of await m.check(engine)) issues.push({ Area: m.name, Kind: i.kind, Path: i.path, Message: i.message, Leftover: LEFTOVER_KINDS.has(i.kind) });
    }
    const problems = issues.filter((i) => !i.Leftover);
    const leftovers = issues.filter((i) => i.Leftover);
    const fmt = p.str('format');
    if (fmt === 'json') ctx.out(JSON.stringify(issues));
    else if (fmt !== undefined) for (const i of issues) ctx.out(kit().renderTemplate(fmt, i));
    else {
      if (!problems.length) ctx.out('No problems found.');
      else for (const i of problems) ctx.out(`${i.Area}: ${i.Kind}: ${i.Path}: ${i.Message}`);
      if (leftovers.length) {
        ctx.out(`${leftovers.length} leftover(s) of interrupted operations (never visible; "berth system prune" removes them):`);
        for (const i of leftovers) ctx.out(`  ${i.Area}: ${i.Kind}: ${i.Path}`);
      }
    }
    return problems.length ? 1 : 0;
  },
};

/**
 * Findings that are debris of an operation killed half-way (temp files, partial ingests, half-made
 * snapshot or container directories of dead processes). Nothing reads them and prune removes
 * them, so they do not make the store inconsistent; every other kind does.
 */
const LEFTOVER_KINDS = new Set(['temp-file', 'temp-dir', 'stray-ingest', 'orphan-dir', 'container-incomplete', 'container-stray-cgroup', 'container-stray-dir', 'container-stray-mount']);

async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  ctx.stdout.write(`${question} [y/N] `);
  const answer = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) done();
    };
    const done = () => {
      ctx.stdin.off('data', onData);
      ctx.stdin.off('end', done);
      ctx.stdin.pause();
      resolve(buf.split('\n')[0] ?? '');
    };
    ctx.stdin.on('data', onData);
    ctx.stdin.once('end', done);
    ctx.stdin.resume();
  });
  ctx.stdout.write('\n');
  return /^y(es)?$/i.test(answer.trim());
}

const systemPrune: CliCommand = {
  spec: {
    name: 'system prune', usage: 'berth system prune [OPTIONS]', description: 'Remove unused data',
    flags: [
      { name: 'all', short: 'a', type: 'bool', description: 'Remove all unused images not just dangling ones' },
      { name: 'force', short: 'f', type: 'bool', description: 'Do not prompt for confirmation' },
      { name: 'volumes', type: 'bool', description: 'Prune anonymous volumes' },
      { name: 'filter', type: 'list', description: 'Provide filter values (e.g. "label=<key>=<value>")' },
    ],
    args: { max: 0 },
  },
  async run(ctx, p) {
    if (!p.bool('force')) {
      const what = [
        '  - all stopped containers',
        '  - all networks not used by at least one container',
        ...(p.bool('volumes') ? ['  - all anonymous volumes not used by at least one container'] : []),
        p.bool('all') ? '  - all images without at least one container associated to them' : '  - all dangling images',
        '  - unreferenced content and leftovers of interrupted operations',
      ];
      ctx.out(`WARNING! This will remove:\n${what.join('\n')}\n`);
      if (!(await confirm(ctx, 'Are you sure you want to continue?'))) return 0;
    }
    const engine = await ctx.engine();
    loadMaintainers();
    const filters: Record<string, string[]> = {};
    for (const f of p.list('filter')) {
      const i = f.indexOf('=');
      if (i > 0) (filters[f.slice(0, i)] ??= []).push(f.slice(i + 1));
    }
    let total = 0;
    for (const m of maint().listMaintainers()) {
      if (!m.prune) continue;
      const r = await m.prune(engine, { all: p.bool('all'), volumes: p.bool('volumes'), filters });
      total += r.reclaimed;
      if (r.removed.length) {
        ctx.out(`Deleted ${m.name}:`);
        for (const x of r.removed) ctx.out(x);
        ctx.out('');
      }
    }
    ctx.out(`Total reclaimed space: ${kit().humanSize(total)}`);
  },
};

export const commands: CliCommand[] = [version, info, pluginLs, doctor, events, systemDf, systemCheck, systemPrune];
