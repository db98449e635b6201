/**
 * The key per-address limits count against: the client's IP address as the socket sees it (a
 * proxy in front of the relay makes every client one address: raise the limit there). IPv4-mapped
 * IPv6 addresses count as their IPv4 address, and IPv6 clients by their /64, the block one host
 * usually holds.
 */
import { isIPv6 } from 'node:net';

export function addressKey(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined || remoteAddress === '') return 'unknown';
  // Dotted IPv4, what most sockets report: no regular expressions (isIPv6 is one) per start.
  if (!remoteAddress.includes(':')) return remoteAddress;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remoteAddress);
  if (mapped) return mapped[1]!;
  if (!isIPv6(remoteAddress)) return remoteAddress;
  return `${expandIPv6(remoteAddress).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, as lower-case hex without leading zeros. */
function expandIPv6(address: string): string[] {
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(Math.max(0, missing)).fill('0'), ...right];
  return groups.map((g) => (Number.parseInt(g, 16) || 0).toString(16));
}
