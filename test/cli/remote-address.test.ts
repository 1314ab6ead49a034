// cli/remote.ts's pure parts: Docker's -H address syntax and errors rebuilt from an engine's answer.
import t from 'tap';
import { engineError, parseEngineAddress } from '../../cli/remote';
import { cliExitCodeOf, describeError } from '../../core/errors';

t.test('engine addresses', async (t) => {
  t.same(parseEngineAddress('unix:///run/berth.sock'), { text: 'unix:///run/berth.sock', socketPath: '/run/berth.sock' });
  t.same(parseEngineAddress('/var/run/berth.sock'), { text: '/var/run/berth.sock', socketPath: '/var/run/berth.sock' }, 'a bare absolute path is a socket');
  t.same(parseEngineAddress('tcp://127.0.0.1:2375'), { text: 'tcp://127.0.0.1:2375', hostname: '127.0.0.1', port: 2375 });
  t.same(parseEngineAddress('tcp://engine.local'), { text: 'tcp://engine.local', hostname: 'engine.local', port: 2375 }, 'Docker\'s default port');
  t.same(parseEngineAddress('tcp://[::1]:4243/'), { text: 'tcp://[::1]:4243/', hostname: '::1', port: 4243 }, 'IPv6 in brackets');
  for (const bad of ['', 'unix://run.sock', 'ssh://box', 'npipe:////./pipe/x', 'tcp://host:0', 'tcp://host:65536', 'tcp://a:b:c', 'berth.sock', 'tcp://']) {
    t.throws(() => parseEngineAddress(bad), { code: 'ERR_REMOTE_HOST_INVALID' }, JSON.stringify(bad));
  }
});

t.test('errors from an engine keep their code and class', async (t) => {
  const nf = engineError(404, 'No such image: a:b (ERR_IMAGE_NOT_FOUND)');
  t.match(nf, { code: 'ERR_IMAGE_NOT_FOUND', cls: 'notFound', message: 'No such image: a:b' });
  t.equal(describeError(nf), 'No such image: a:b (ERR_IMAGE_NOT_FOUND)', 'printed as the same failure daemonless');
  t.equal(cliExitCodeOf(nf), 1);
  t.match(engineError(409, 'conflict: unable to delete (must be forced)'), { code: 'ERR_REMOTE_FAILED', cls: 'conflict' }, 'dockerd names no code');
  t.match(engineError(400, 'bad (ERR_x)'), { code: 'ERR_REMOTE_FAILED', cls: 'invalidArgument', message: 'bad (ERR_x)' }, 'not a code: kept in the text');
  t.match(engineError(418, 'teapot'), { cls: 'invalidArgument' });
  t.match(engineError(502, 'gateway'), { cls: 'internal' });
  t.match(engineError(503, 'x (ERR_A_B)'), { code: 'ERR_A_B', cls: 'unavailable' });
});
