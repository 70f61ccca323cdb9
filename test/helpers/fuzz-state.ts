// What the reliability tests count to prove "nothing leaked": host veths, bridge ports, IPAM
// files, netfilter rules and chains in a World's node namespace, and files under a directory.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { masqChainName } from '../../src/firewall/tag';
import { hostVethName } from '../../src/attachment/names';
import * as assert from 'uvu/assert';
import { BIN, CniCall, CniReply, RUN_ID, cniEnv, World } from './netns';

export interface Census {
  /** host veths (any veth whose name starts with "veth") in the node namespace */
  veths: string[];
  /** all link names in the node namespace */
  links: string[];
  /** reservation files of the network */
  ipFiles: string[];
  /** "-A" rules in iptables-save/ip6tables-save nat, plus rules in `nft list ruleset` */
  rules: number;
  /** user chains: iptables ":CNI-..." and nft "chain ..." lines */
  chains: string[];
}

const lines = (s: string): string[] =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

/** Counts everything a tsbridge attachment can leave in `world`'s node namespace. */
export function census(world: World, network: string): Census {
  const links = world.links(world.node);
  // read through exec: a tool that fails throws rather than counting as "no rules"
  const ipt = ['iptables-save', 'ip6tables-save'].map((c) => world.exec(world.node, c, ['-t', 'nat'])).join('\n');
  const nft = world.exec(world.node, 'nft', ['list', 'ruleset']);
  const iptRules = lines(ipt).filter((l) => l.startsWith('-A '));
  const iptChains = lines(ipt)
    .filter((l) => l.startsWith(':CNI-'))
    .map((l) => l.split(' ')[0]);
  // an nft rule is a line inside a chain body that is not a chain/type/policy line or a brace
  const nftLines = lines(nft);
  // (iptables-nft shows its tables in the nft ruleset too; their built-in chains appear on first use)
  const nftChains = nftLines
    .filter((l) => l.startsWith('chain ') && !/^chain (PREROUTING|INPUT|OUTPUT|POSTROUTING|FORWARD) /.test(l))
    .map((l) => l.replace(/\s*\{$/, ''));
  const nftRules = nftLines.filter(
    (l) => !/^((table|chain|type|policy|comment|set|elements|flags)\b|\})/.test(l) && !l.endsWith('{'),
  );
  return {
    veths: links.filter((l) => l.startsWith('veth')).sort(),
    links: links.sort(),
    ipFiles: world.reservations(network),
    rules: iptRules.length + nftRules.length,
    chains: [...iptChains, ...nftChains].sort(),
  };
}

/** Every trace of one attachment still present; [] when it is gone without a trace. */
export function traces(world: World, network: string, cid: string, ifname = 'eth0', pod?: { name: string }): string[] {
  const out: string[] = [];
  const veth = hostVethName(cid, ifname);
  if (world.links(world.node).includes(veth)) out.push(`host veth ${veth}`);
  if (pod && fs.existsSync(`/run/netns/${pod.name}`) && world.links(pod.name).includes(ifname))
    out.push(`${ifname} in ${pod.name}`);
  for (const f of ipFilesOf(path.join(world.dataDir, network), cid)) out.push(`IPAM file ${f}`);
  const dump = world.natDump(world.node);
  if (dump.includes(masqChainName(network, cid))) out.push(`chain ${masqChainName(network, cid)}`);
  if (dump.includes(cid)) out.push(`a rule naming ${cid}`);
  return out;
}

/**
 * The presence check before an absence check ("nothing of attachment X left"): plants in `world`'s
 * node what an attachment of `network` leaves (a host veth, an IPAM record, an iptables chain and
 * an nft rule naming it) for a control container, asserts traces() finds every piece, removes them
 * and asserts traces() is empty again. A traces(...) === [] that follows is then no placebo: the
 * readers work in this namespace and the matching sees each kind of leftover.
 */
export function assertTracesSeen(world: World, network: string): void {
  const cid = `control-${RUN_ID}-${++controls}`;
  const veth = hostVethName(cid, 'eth0');
  const chain = masqChainName(network, cid);
  const dir = path.join(world.dataDir, network);
  const madeDir = !fs.existsSync(dir);
  const record = path.join(dir, '203.0.113.254'); // TEST-NET-3: no test allocates from it
  const table = `tsbt_control_${RUN_ID}`;
  const n = (cmd: string, ...args: string[]): string => world.exec(world.node, cmd, args);
  n('ip', 'link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}c`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(record, `${cid}\r\neth0`);
  n('iptables', '-t', 'nat', '-N', chain);
  n('nft', 'add', 'table', 'inet', table);
  n('nft', 'add', 'chain', 'inet', table, 'c');
  n('nft', 'add', 'rule', 'inet', table, 'c', 'counter', 'comment', `"id: ${cid}"`);
  try {
    assert.equal(
      traces(world, network, cid).sort(),
      [`IPAM file 203.0.113.254`, `a rule naming ${cid}`, `chain ${chain}`, `host veth ${veth}`].sort(),
      'planted control traces not all seen: an absence check here would mean nothing',
    );
  } finally {
    spawnSync('ip', ['-n', world.node, 'link', 'del', veth]);
    fs.rmSync(record, { force: true });
    if (madeDir) fs.rmSync(dir, { recursive: true, force: true });
    spawnSync('ip', ['netns', 'exec', world.node, 'iptables', '-t', 'nat', '-X', chain]);
    spawnSync('ip', ['netns', 'exec', world.node, 'nft', 'delete', 'table', 'inet', table]);
  }
  assert.equal(traces(world, network, cid), [], 'control traces not removed');
}
let controls = 0;

/**
 * Reservation files in `dir` whose record names `cid` (regular files only; links, FIFOs and
 * directories are never opened, so a damaged store cannot hang or crash the inspection).
 */
export function ipFilesOf(dir: string, cid: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((f) => {
      // records only: not the lock, cursors, boot mark or a record still being staged (.tsbridge-staging)
      if (f === 'lock' || f.startsWith('last_reserved_ip') || f.startsWith('tsbridge-boot') || f.startsWith('.'))
        return false;
      try {
        const p = path.join(dir, f);
        if (!fs.lstatSync(p).isFile()) return false;
        return fs.readFileSync(p, 'utf8').split('\r\n')[0].trim() === cid;
      } catch {
        return false;
      }
    })
    .sort();
}

/** Relative paths of every entry below `root` (not following links), sorted. */
export function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(dir, n);
      out.push(path.relative(root, p));
      try {
        if (fs.lstatSync(p).isDirectory()) walk(p);
      } catch {
        // vanished meanwhile
      }
    }
  };
  walk(root);
  return out.sort();
}

/**
 * Runs the binary in `hostNs` with an upper bound on its run time. `timedOut` is true when the
 * bound was hit (a hang); otherwise status, stdout and stderr as cni() gives them. With `rawEnv`
 * the environment is PATH plus call.env and nothing else (to leave CNI_* variables out).
 */
export function cniBounded(
  hostNs: string,
  call: CniCall,
  limitMs: number,
  opts: { rawEnv?: boolean } = {},
): Promise<CniReply & { timedOut: boolean }> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = opts.rawEnv
      ? { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...call.env }
      : cniEnv(call);
    const child = spawn('ip', ['netns', 'exec', hostNs, call.bin ?? BIN], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: any;
      try {
        json = out.trim() ? JSON.parse(out) : undefined;
      } catch {
        json = undefined;
      }
      resolve({ status: code ?? -1, stdout: out, stderr: err, json, timedOut });
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(typeof call.conf === 'string' ? call.conf : JSON.stringify(call.conf));
  });
}

/** A process holding an exclusive flock(1) on `file` until killed; resolves once the lock is held. */
export function holdFlock(file: string): Promise<{ release: (wait?: boolean) => void }> {
  return new Promise((resolve, reject) => {
    // flock(1) runs the command with the lock held; the command announces it and sleeps.
    const child = spawn('flock', ['-x', file, 'sh', '-c', 'echo held; exec sleep 60'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('exit', (c) => reject(new Error(`flock ${file} exited with ${c}: ${err}`)));
    child.stdout!.on('data', (b: Buffer) => {
      if (!b.toString().includes('held')) return;
      child.removeAllListeners('exit');
      resolve({
        // wait (default): return once the lock is free; false: return at once (waiters may take it)
        release: (wait = true) => {
          // kill the whole group: flock and its sleep (the lock is on their shared open file)
          if (child.exitCode === null && child.signalCode === null) {
            try {
              process.kill(-child.pid!, 'SIGKILL');
            } catch {
              child.kill('SIGKILL');
            }
          }
          if (wait)
            spawnSync('sh', ['-c', 'until flock -n "$1" true; do sleep 0.05; done', 'sh', file], {
              timeout: 10_000,
            });
        },
      });
    });
  });
}
