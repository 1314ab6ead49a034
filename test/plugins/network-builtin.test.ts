import t from 'tap';
import { runNetworkSuite } from '../../core/testsuite/network';
import { NullDriver } from '../../plugins/network/null/null';
import { HostDriver, HOST_SANDBOX } from '../../plugins/network/host/host';

runNetworkSuite(t, 'null', async () => new NullDriver(), { sandbox: async () => '/run/netns/berth-suite-unused', singleInstance: true });
runNetworkSuite(t, 'host', async () => new HostDriver(), { sandbox: async () => HOST_SANDBOX, singleInstance: true });

t.test('host: refuses any sandbox but the host namespace', async (t) => {
  const d = new HostDriver();
  await d.createNetwork('h', { name: 'host', options: {}, labels: {}, internal: false });
  await t.rejects(d.join('h', 'e', '/run/netns/other', { setGateway() {}, addStaticRoute() {}, setNames() {} }), /only join the host namespace/);
});
