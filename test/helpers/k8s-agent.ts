// tsbridge's long-running Kubernetes commands (the route agent, install --watch) started inside a
// node's network namespace and pointed at the fake API server, their output handed to the test.
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { FakeApi } from './k8s-fake-api';
import * as assert from 'uvu/assert';
import { BIN, exited, nodeUplink, World } from './netns';

/**
 * The flags that point install/routes at the API server `server` (default: api on loopback) with api's token and CA.
 */
export function apiFlags(api: FakeApi, server = api.url('127.0.0.1')): string[] {
  return ['--api-server', server, '--token-file', api.tokenFile, '--ca-file', api.caFile];
}

/**
 * `tsbridge ...args` run in network namespace ns (`ip netns exec` execs it in place, so the pid is
 * the agent's); `onOutput` gets its stdout and stderr as they come. env: the whole environment (default: ours).
 */
export function spawnInNs(
  ns: string,
  args: string[],
  onOutput: (text: string) => void,
  env?: NodeJS.ProcessEnv,
): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', ns, BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (x: Buffer) => onOutput(x.toString()));
  child.stderr!.on('data', (x: Buffer) => onOutput(x.toString()));
  return child;
}

/** install's CNI directories under dir: bin and net.d. */
export function cniDirFlags(dir: string): string[] {
  return ['--cni-bin-dir', path.join(dir, 'bin'), '--cni-conf-dir', path.join(dir, 'net.d')];
}

/** install's node directories under dir (bin, net.d, ipam) and its bridge. */
export function dirFlags(dir: string, bridge: string): string[] {
  return [...cniDirFlags(dir), '--data-dir', path.join(dir, 'ipam'), '--bridge', bridge];
}

/** The node namespace gets its uplink (eth0 with addrs, see nodeUplink) and api listens inside it; returns its name. */
export async function serveInNode(world: World, api: FakeApi, ...addrs: string[]): Promise<string> {
  nodeUplink(world.node, ...addrs);
  await api.listen({ nsPath: `/run/netns/${world.node}` });
  return world.node;
}

/** SIGTERM stops the agent cleanly: exit code 0 (its log in the message otherwise). */
export async function stopAgent(agent: ChildProcess, log: string): Promise<void> {
  agent.kill('SIGTERM');
  assert.is(await exited(agent), 0, log);
}

/** The end of an agent test, also after a failure: the agent killed, the namespaces removed, the server closed. */
export async function teardown(agent: ChildProcess | undefined, world: World, api: FakeApi): Promise<void> {
  agent?.kill('SIGKILL');
  world.cleanup();
  await api.close();
}
