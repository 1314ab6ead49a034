import t from 'tap';
import { defineError, httpStatusOf, cliExitCodeOf, wrapPluginError, classOf, hasCode, ERR_USAGE, BerthError } from '../../core/errors';

t.test('classes map to HTTP statuses and exit codes like Docker', async (t) => {
  const NF = defineError('ERR_TEST_NOT_FOUND', 'notFound', 'no such thing: %s');
  const CF = defineError('ERR_TEST_CONFLICT', 'conflict', 'conflict: %s');
  const e = NF('x');
  t.equal(e.message, 'no such thing: x');
  t.equal(e.code, 'ERR_TEST_NOT_FOUND');
  t.equal(httpStatusOf(e), 404);
  t.equal(httpStatusOf(CF('y')), 409);
  t.equal(httpStatusOf(new Error('plain')), 500);
  t.equal(cliExitCodeOf(e), 1);
  t.equal(cliExitCodeOf(e, true), 125, 'run-like commands exit 125 on engine errors');
  t.equal(cliExitCodeOf(ERR_USAGE('unknown flag: --x')), 125, 'usage errors exit 125');
  t.ok(NF.is(e));
});

t.test('codes are validated and stable', async (t) => {
  t.throws(() => defineError('bad', 'internal', 'x'), /ERR_<AREA>_<WHAT>/);
  t.throws(() => defineError('ERR_TEST_NOT_FOUND', 'conflict', 'x'), /declared as notFound and conflict/);
});

t.test('plugin errors are wrapped with plugin and op, keeping class and cause', async (t) => {
  const NF = defineError('ERR_TEST_NOT_FOUND', 'notFound', 'no such thing: %s');
  const inner = NF('snap1');
  const w = wrapPluginError(inner, 'berth.storage.v1.vfs', 'remove');
  t.equal(w.plugin, 'berth.storage.v1.vfs');
  t.equal(w.op, 'remove');
  t.equal(classOf(w), 'notFound');
  t.match(w.message, 'berth.storage.v1.vfs: remove: no such thing: snap1');
  const plain = wrapPluginError(new TypeError('oops'), 'berth.network.v1.bridge', 'join');
  t.ok(plain instanceof BerthError);
  t.equal(plain.code, 'ERR_PLUGIN_FAILED');
  t.equal(classOf(plain), 'internal');
  t.ok(hasCode(plain, 'ERR_PLUGIN_FAILED'));
  t.equal((plain.cause as Error).message, 'oops');
});
