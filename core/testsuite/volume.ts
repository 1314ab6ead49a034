/**
 * Conformance suite for volume drivers (contracts/volume.ts):
 *
 *   runVolumeSuite(t, 'local', async (dir) => new LocalDriver(dir, new MetadataStore(`${dir}/meta`), hostOps));
 *
 * `factory(dir)` returns a driver keeping its state in `dir`; two drivers on one dir share it.
 */
import type { Test } from 'tap';
import { mkdtemp, rm, writeFile, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { VolumeDriver } from '../contracts/volume';
import { expectClass } from './expect';

/** The tap test object (type only: the suite runs under tap). */
type T = Test;


export function runVolumeSuite(t: T, name: string, factory: (dir: string) => Promise<VolumeDriver>, opts: { tmpfsOptions?: Record<string, string> } = {}): void {
  const fresh = async (t: T) => {
    const dir = await mkdtemp(`${tmpdir()}/berth-volume-suite-`);
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    return { dir, driver: await factory(dir) };
  };

  t.test(`${name}: create, get, list, remove`, async (t) => {
    const { driver } = await fresh(t);
    const v = await driver.create('data1', {}, { app: 'x' });
    t.equal(v.name(), 'data1');
    t.equal(v.driverName(), driver.name());
    t.equal((await driver.get('data1')).path(), v.path());
    t.same((await driver.list()).map((x) => x.name()), ['data1']);
    const again = await driver.create('data1', {});
    t.equal(again.path(), v.path(), 'creating an existing volume returns it');
    await driver.remove(v);
    await expectClass(t, driver.get('data1'), 'notFound', 'get after remove');
    t.same(await driver.list(), []);
  });

  t.test(`${name}: invalid names are rejected`, async (t) => {
    const { driver } = await fresh(t);
    for (const bad of ['a', '../x', '/abs', 'has space', '-lead']) await expectClass(t, driver.create(bad, {}), 'invalidArgument', `name ${JSON.stringify(bad)}`);
  });

  t.test(`${name}: mount is reference-counted by caller; in-use volumes cannot be removed`, async (t) => {
    const { dir, driver } = await fresh(t);
    const v = await driver.create('shared', {});
    const p1 = await v.mount('c1');
    const p2 = await v.mount('c2');
    t.equal(p1, p2);
    await writeFile(`${p1}/file`, 'hello');
    const other = await factory(dir);
    await expectClass(t, other.remove(await other.get('shared')), 'conflict', 'remove while mounted (seen from another instance)');
    await v.unmount('c1');
    await expectClass(t, driver.remove(v), 'conflict', 'remove while one caller remains');
    await v.unmount('c2');
    await v.unmount('c2');
    t.equal(await readFile(`${v.path()}/file`, 'utf8'), 'hello', 'data survives unmount');
    await driver.remove(v);
    await t.rejects(stat(v.path()), { code: 'ENOENT' }, 'data removed with the volume');
  });

  if (opts.tmpfsOptions) {
    const tmpfsOptions = opts.tmpfsOptions;
    t.test(`${name}: option volumes mount on first use and unmount after the last`, async (t) => {
      const { driver } = await fresh(t);
      const v = await driver.create('scratch', tmpfsOptions);
      const path = await v.mount('c1');
      const dev = async (p: string) => (await stat(p)).dev;
      t.ok((await dev(path)) !== (await dev(`${path}/..`)), 'a filesystem is mounted at the volume path');
      await v.mount('c2');
      await v.unmount('c1');
      t.ok((await dev(path)) !== (await dev(`${path}/..`)), 'still mounted while a caller remains');
      await v.unmount('c2');
      t.equal(await dev(path), await dev(`${path}/..`), 'unmounted after the last caller');
      await driver.remove(v);
    });
  }
}
