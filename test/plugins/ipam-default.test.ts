import t from 'tap';
import { runIpamSuite } from '../../core/testsuite/ipam';
import { DefaultIpam } from '../../plugins/ipam/default/ipam';
import { MetadataStore } from '../../core/store/metadata';
import { parseCidr, formatCidr, overlaps, ipToInt } from '../../plugins/ipam/default/ipv4';

runIpamSuite(t, 'default', async (dir) => new DefaultIpam(new MetadataStore(dir)));

t.test('ipv4 helpers', async (t) => {
  t.equal(formatCidr(parseCidr('172.18.3.4/16')), '172.18.0.0/16');
  t.ok(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.1.0.0/16')));
  t.notOk(overlaps(parseCidr('10.0.0.0/16'), parseCidr('10.1.0.0/16')));
  t.equal(ipToInt('255.255.255.255'), 0xffffffff);
  for (const bad of ['10.0.0.0', '10.0.0/8', '300.0.0.0/8', '10.0.0.0/33']) t.throws(() => parseCidr(bad), /invalid IPv4 CIDR/);
});
