import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** Where webhooks may go (config.webhooks): the SSRF policy, applied at creation and at connect. */
export interface AddressPolicy {
  /** http:// (and loopback addresses) for localhost / 127.0.0.1 / ::1 only. */
  allowHttpLoopback: boolean;
  /** Refuse private, loopback, link-local and other non-public addresses. */
  blockPrivateAddresses: boolean;
}

// Not reachable on the public internet (IANA special-purpose registries): a webhook aimed at
// one of these is aimed at our own network or the cloud's metadata service.
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  // NAT64 forms can reach any IPv4 address, private ones included. (IPv4-mapped addresses,
  // ::ffff:a.b.c.d, need no rule: BlockList judges them by the IPv4 rules above.)
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** `[::1]` → `::1`, `localhost.` → `localhost`, lower case. */
export function bareHost(hostname: string): string {
  const unbracketed =
    hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return unbracketed.replace(/\.$/, '').toLowerCase();
}

/** The names and addresses `allowHttpLoopback` is about. */
export function isLoopbackHost(hostname: string): boolean {
  const host = bareHost(hostname);
  return host === 'localhost' || host === '127.0.0.1' || host === '::1';
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return !NON_PUBLIC.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  return family !== 0 && LOOPBACK.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * Whether a connection to `address` (resolved for `hostname`) is allowed: public addresses
 * always, loopback ones when the URL names a loopback host and `allowHttpLoopback`, anything
 * when private addresses are not blocked.
 */
export function addressAllowed(policy: AddressPolicy, hostname: string, address: string): boolean {
  if (!policy.blockPrivateAddresses) return true;
  if (isPublicAddress(address)) return true;
  return policy.allowHttpLoopback && isLoopbackHost(hostname) && isLoopbackAddress(address);
}

/** A refused target; its message is what the delivery attempt logs. */
export class BlockedAddressError extends Error {
  readonly code = 'EBLOCKEDADDRESS';
  constructor(hostname: string, address: string) {
    super(
      `refused to connect to ${address}${address === hostname ? '' : ` (${hostname})`}: not a public address`,
    );
    this.name = 'BlockedAddressError';
  }
}

/**
 * A `lookup` for node:http(s) that resolves as usual and then refuses the connection when any
 * address of the name is not allowed. The socket connects to the address checked here, so a
 * DNS answer that changes between check and connect (rebinding) cannot slip through.
 */
export function checkedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const refused = addresses.find((a) => !addressAllowed(policy, hostname, a.address));
      if (refused) {
        callback(new BlockedAddressError(hostname, refused.address), '', 0);
        return;
      }
      if (options.all) {
        (callback as unknown as (e: null, all: LookupAddress[]) => void)(null, addresses);
        return;
      }
      const first = addresses[0];
      if (!first) {
        callback(
          Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }),
          '',
          0,
        );
        return;
      }
      callback(null, first.address, first.family);
    });
  };
}
