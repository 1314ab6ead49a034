import t from 'tap';
import 'reflect-metadata';
import { Container, ContainerModule, injectable, inject } from 'inversify';
import { PluginRegistry, PluginSkipError, bootPlugins, BootOptions, PluginRegistration, InitContext } from '../../core/plugin';
import { createLogger } from '../../core/logger';
import { hasCode } from '../../core/errors';
import { TOKENS, pluginToken } from '../../core/tokens';

const quiet = createLogger('error', 'test', () => undefined);

function opts(over: Partial<BootOptions> = {}): BootOptions {
  return {
    root: '/nonexistent-root', engineConfig: {}, pluginConfig: () => undefined, required: [], disabled: [],
    logger: quiet, container: new Container(), mkdirp: async () => undefined, ...over,
  };
}

const reg = (type: string, id: string, requires: string[] = [], init: PluginRegistration['init'] = () => ({ id })): PluginRegistration => ({ type, id, requires, init });

t.test('registration rejects malformed records', async (t) => {
  const r = new PluginRegistry();
  t.throws(() => r.register(reg('', 'x')), /empty type/);
  t.throws(() => r.register(reg('t.v1', '')), /empty id/);
  t.throws(() => r.register(reg('t.v1', 'Bad Id')), /must be lower-case/);
  t.throws(() => r.register(reg('t.v1', 'self', ['t.v1'])), /requires its own type/);
  t.throws(() => r.register(reg('t.v1', 'star', ['*', 'u.v1'])), /cannot be mixed/);
  t.throws(() => r.register({ type: 't.v1', id: 'noinit' } as unknown as PluginRegistration), /no init/);
  r.register(reg('t.v1', 'a'));
  try {
    r.register(reg('t.v1', 'a'));
    t.fail('duplicate accepted');
  } catch (e) {
    t.ok(hasCode(e, 'ERR_PLUGIN_DUPLICATE'), 'duplicate uri is ERR_PLUGIN_DUPLICATE');
  }
});

t.test('boot order is a topological sort over required types', async (t) => {
  const r = new PluginRegistry();
  const seen: string[] = [];
  const rec = (type: string, id: string, requires: string[] = []) => reg(type, id, requires, () => void seen.push(`${type}.${id}`));
  r.register(rec('net.v1', 'bridge', ['ipam.v1', 'host.v1']));
  r.register(rec('last.v1', 'x', ['*']));
  r.register(rec('ipam.v1', 'default', ['host.v1']));
  r.register(rec('host.v1', 'linux'));
  r.register(rec('store.v1', 'vfs'));
  await bootPlugins(r, opts());
  t.same(seen, ['host.v1.linux', 'ipam.v1.default', 'net.v1.bridge', 'store.v1.vfs', 'last.v1.x']);
  t.ok(seen.indexOf('host.v1.linux') < seen.indexOf('ipam.v1.default'));
});

t.test('a cycle fails naming the chain', async (t) => {
  const r = new PluginRegistry();
  r.register(reg('a.v1', 'x', ['b.v1']));
  r.register(reg('b.v1', 'y', ['c.v1']));
  r.register(reg('c.v1', 'z', ['a.v1']));
  try {
    r.graph();
    t.fail('cycle not detected');
  } catch (e) {
    t.ok(hasCode(e, 'ERR_PLUGIN_CYCLE'));
    t.match((e as Error).message, 'a.v1.x -> b.v1.y -> c.v1.z -> a.v1.x');
  }
});

t.test('skip vs fail: boot goes on, dependants are skipped, records say why', async (t) => {
  const r = new PluginRegistry();
  r.register(reg('host.v1', 'linux'));
  r.register(reg('store.v1', 'overlay', ['host.v1'], () => { throw new PluginSkipError('overlayfs missing', 'modprobe overlay'); }));
  r.register(reg('store.v1', 'vfs', ['host.v1']));
  r.register(reg('net.v1', 'broken', [], () => { throw new Error('boom'); }));
  r.register(reg('dns.v1', 'embedded', ['net.v1']));
  const booted = await bootPlugins(r, opts());
  const status = Object.fromEntries(booted.records.map((x) => [x.uri, x.status]));
  t.same(status, { 'host.v1.linux': 'ok', 'store.v1.overlay': 'skipped', 'store.v1.vfs': 'ok', 'net.v1.broken': 'failed', 'dns.v1.embedded': 'skipped' });
  const overlay = booted.record('store.v1', 'overlay')!;
  t.equal(overlay.reason, 'overlayfs missing');
  t.equal(overlay.fix, 'modprobe overlay');
  t.equal(booted.record('net.v1', 'broken')!.reason, 'boom');
  t.match(booted.record('dns.v1', 'embedded')!.reason, /requires net\.v1 \(broken failed\)/);
  t.equal((booted.get<{ id: string }>('store.v1')).id, 'vfs', 'the only ok storage plugin is returned');
  t.throws(() => booted.getById('store.v1', 'overlay'), /not available: overlayfs missing/);
});

t.test('required plugins: boot fails listing every missing one', async (t) => {
  const r = new PluginRegistry();
  r.register(reg('store.v1', 'overlay', [], () => { throw new PluginSkipError('overlayfs missing'); }));
  r.register(reg('net.v1', 'broken', [], () => { throw new Error('boom'); }));
  r.register(reg('net.v1', 'fine'));
  try {
    await bootPlugins(r, opts({ required: ['store.v1.overlay', 'broken', 'nosuch'] }));
    t.fail('boot succeeded without its required plugins');
  } catch (e) {
    const msg = (e as Error).message;
    t.ok(hasCode(e, 'ERR_PLUGIN_REQUIRED'));
    t.match(msg, 'store.v1.overlay (skipped: overlayfs missing)');
    t.match(msg, 'net.v1.broken (failed: boom)');
    t.match(msg, 'nosuch (not registered)');
  }
  // A required plugin that works boots fine.
  await bootPlugins(r, opts({ required: ['fine'] }));
});

t.test('disabled and onlyTypes limit what boots', async (t) => {
  const r = new PluginRegistry();
  const seen: string[] = [];
  const rec = (type: string, id: string, requires: string[] = []) => reg(type, id, requires, () => void seen.push(id));
  r.register(rec('host.v1', 'linux'));
  r.register(rec('store.v1', 'overlay', ['host.v1']));
  r.register(rec('net.v1', 'bridge', ['host.v1']));
  r.register(rec('net.v1', 'macvlan', ['host.v1']));
  await bootPlugins(r, opts({ onlyTypes: ['store.v1'] }));
  t.same(seen, ['linux', 'overlay'], 'only storage and what it requires');
  seen.length = 0;
  await bootPlugins(r, opts({ disabled: ['macvlan'] }));
  t.same(seen, ['linux', 'overlay', 'bridge']);
});

t.test('prefer: a type\'s others are left out once its preferred plugin is ok, else they boot', async (t) => {
  const boot = async (o: Partial<BootOptions>, skipA = false) => {
    const r = new PluginRegistry();
    const seen: string[] = [];
    const rec = (id: string) => reg('store.v1', id, [], () => {
      if (skipA && id === 'a') throw new PluginSkipError('not here');
      seen.push(id);
      return { id };
    });
    r.register(reg('host.v1', 'linux', [], () => void seen.push('host')));
    r.register(rec('a'));
    r.register(rec('b'));
    const booted = await bootPlugins(r, opts(o));
    return { seen, ids: booted.records.map((x) => `${x.id}:${x.status}`) };
  };
  t.same((await boot({ prefer: { 'store.v1': 'a' } })).seen, ['host', 'a'], 'preferred first and ok: b not booted');
  t.same((await boot({ prefer: { 'store.v1': 'a' } }, true)).ids, ['linux:ok', 'a:skipped', 'b:ok'], 'preferred skipped: b boots (the fallback)');
  t.same((await boot({ prefer: { 'store.v1': 'b' } })).seen, ['host', 'a', 'b'], 'preferred after the other in boot order: both boot');
  t.same((await boot({ prefer: { 'store.v1': 'a' }, required: ['b'] })).seen, ['host', 'a', 'b'], 'a required plugin is never left out');
  t.same((await boot({})).seen, ['host', 'a', 'b'], 'no preference: all boot');
});

t.test('init context: own config (validated), data dir, lookups, DI module', async (t) => {
  @injectable()
  class Impl {
    constructor(@inject(TOKENS.PluginConfig) readonly cfg: Record<string, unknown>, @inject(TOKENS.PluginContext) readonly ctx: InitContext) {}
  }
  const r = new PluginRegistry();
  const dirs: string[] = [];
  r.register(reg('host.v1', 'linux', [], () => ({ features: 'f' })));
  r.register({
    type: 'store.v1', id: 'vfs', requires: ['host.v1'],
    configSchema: { 'copy-mode': { type: 'string', default: 'reflink', enum: ['reflink', 'plain'], description: 'how to copy' } },
    // The plugin's own container module binds the instance; init is then not called.
    module: () => new ContainerModule((o) => {
      o.bind(Impl).toSelf().inSingletonScope();
      o.bind(TOKENS.PluginInstance).toService(Impl);
    }),
    init: () => { throw new Error('init must not run when the module binds the instance'); },
  });
  const container = new Container();
  const booted = await bootPlugins(r, opts({ container, mkdirp: async (d) => void dirs.push(d), pluginConfig: (g) => (g.id === 'vfs' ? { 'copy-mode': 'plain' } : undefined) }));
  const ctxSeen = booted.get<Impl>('store.v1').ctx;
  t.equal(ctxSeen.dataDir, '/nonexistent-root/plugins/store.v1.vfs');
  t.ok(dirs.includes('/nonexistent-root/plugins/store.v1.vfs'), 'data dir created before init');
  t.same(ctxSeen.config, { 'copy-mode': 'plain' });
  t.same(ctxSeen.get('host.v1'), { features: 'f' });
  const impl = booted.get<Impl>('store.v1');
  t.same(impl.cfg, { 'copy-mode': 'plain' }, 'the module got the plugin config through DI');
  t.equal(container.get(pluginToken('store.v1'), { name: 'vfs' }), impl, 'instance bound in the root container by type and id');
  // A bad section fails the boot before anything runs, naming file, key and expected type.
  await t.rejects(
    bootPlugins(r, opts({ configFile: '/etc/berth/config.yaml', pluginConfig: (g) => (g.id === 'vfs' ? { 'copy-mode': 3 } : undefined) })),
    /\/etc\/berth\/config\.yaml: plugins\.vfs\.copy-mode: expected a string, got number 3/,
  );
});
