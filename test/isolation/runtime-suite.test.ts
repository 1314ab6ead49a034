/**
 * The isolation conformance suite (core/testsuite/isolation.ts) against every
 * OCI runtime on this host: berth's own berth-nsrun (built from
 * plugins/isolation/ns), runc and crun. A runtime that is missing, or that
 * refuses this host (crun 1.8.1 on a hybrid cgroup host whose cgroup2 mount
 * holds a controller), is skipped with the reason it printed.
 * Needs root (namespaces, cgroups, mounts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { cgroupMounts, runIsolationSuite, runRuntime } from '../../core/testsuite/isolation';
import { makeBundle } from '../helpers/oci-bundle';

const nsrunBuild = require('../../plugins/isolation/ns/build.js') as { build(): string };

function which(name: string): string | undefined {
  for (const d of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/** Runs a trivial container; undefined when the runtime works, else why not. */
async function refusal(runtime: string): Promise<string | undefined> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-iso-probe-'));
  try {
    fs.chmodSync(tmp, 0o755);
    const parent = `/berth-suite-probe-${process.pid}`;
    const b = makeBundle(path.join(tmp, 'b'), { args: ['true'], cgroupsPath: `${parent}/probe` });
    const r = await runRuntime(runtime, ['--root', path.join(tmp, 'state'), 'run', '--bundle', b.dir, `probe-${process.pid}`], { cwd: tmp });
    await runRuntime(runtime, ['--root', path.join(tmp, 'state'), 'delete', '--force', `probe-${process.pid}`], { cwd: tmp }).catch(() => undefined);
    for (const m of cgroupMounts()) {
      for (const d of [path.join(m.mountpoint, parent, 'probe'), path.join(m.mountpoint, parent)]) {
        try {
          fs.rmdirSync(d);
        } catch {
          /* absent */
        }
      }
    }
    if (r.code === 0) return undefined;
    const why = r.stderr.trim().split('\n').pop() ?? `exit ${r.code}`;
    if (/hybrid/i.test(why)) return `${why} — this host is cgroup-hybrid and its cgroup2 mount holds a controller (${fs.readFileSync('/sys/fs/cgroup/unified/cgroup.controllers', 'utf8').trim() || 'none'}); crun 1.8.1 refuses such hosts`;
    return why;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root: namespaces, cgroups and mounts');
} else {
  const runtimes: { name: string; path: string | undefined; why?: string }[] = [];
  let nsrun: string | undefined;
  let buildError = '';
  try {
    nsrun = nsrunBuild.build();
  } catch (e) {
    buildError = String((e as Error).message);
  }
  runtimes.push({ name: 'berth-nsrun', path: nsrun, why: nsrun ? undefined : `build failed: ${buildError}` });
  runtimes.push({ name: 'runc', path: which('runc') });
  runtimes.push({ name: 'crun', path: which('crun') });

  for (const r of runtimes) {
    t.test(r.name, async (t) => {
      if (!r.path) {
        if (r.name === 'berth-nsrun') t.fail(`berth-nsrun unavailable: ${r.why}`);
        else t.pass(r.name, { skip: `${r.name} is not installed` });
        return;
      }
      const why = await refusal(r.path);
      if (why) {
        if (r.name === 'berth-nsrun') t.fail(`berth-nsrun refuses this host: ${why}`);
        else t.pass(r.name, { skip: `${r.name} refuses this host: ${why}` });
        return;
      }
      runIsolationSuite(t, { name: r.name, runtime: r.path });
    });
  }
}
