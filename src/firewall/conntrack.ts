// The conntrack cleanup after a port-mapping change, for both backends (runs the `conntrack` tool).
import { runTool, which } from '../sys/exec';
import type { Family } from '../ip/addr';

/**
 * Deletes conntrack entries of UDP flows to the given host ports, so a UDP "connection" set up
 * before the DNAT rule existed (or to a container that is gone) does not keep black-holing
 * traffic (reference plugins#123/#553/#1190). Best effort: without the `conntrack` tool, or when
 * it fails, nothing happens; returns what it did for the log.
 */
export function flushUdpConntrack(ports: { family: Family; hostPort: number }[]): string[] {
  const done: string[] = [];
  if (ports.length === 0 || !which('conntrack')) return done;
  const seen = new Set<string>();
  for (const p of ports) {
    const k = `${p.family}/${p.hostPort}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const args = ['-D', '-f', p.family === 4 ? 'ipv4' : 'ipv6', '-p', 'udp', '--orig-port-dst', String(p.hostPort)];
    try {
      // exit status 1 with "0 flow entries have been deleted" is the usual, fine outcome
      runTool('conntrack', args);
      done.push(`conntrack ${args.join(' ')}`);
    } catch {
      // best effort
    }
  }
  return done;
}
