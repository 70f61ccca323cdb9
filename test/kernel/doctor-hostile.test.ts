// `tsbridge doctor` facing what others control: interface names a pod with NET_ADMIN chose
// (`x;reboot`, an escape sequence) reach the report only shell-quoted and escaped; IPAM records
// with IDs no runtime gives (`$(reboot)`, `../x`) are named as corrupt and never used; a namespace
// made by an unprivileged `unshare -Urn` holding a gone container's IP is not taken for it (while
// one of our own user namespace is: the positive control). Subnet 10.236.0.0/24, bridge tsbhos0.
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BIN, RUN_ID, World, bridgeConf, cni, sh } from '../helpers/netns';
import { hostVethName } from '../../src/attachment/names';

const BRIDGE = 'tsbhos0';
const NET = 'tsbt-hos';
const POD_IP = '10.236.0.2';

interface Topo {
  world: World;
  pod: { name: string; path: string };
  cid: string;
  confFile: string;
}

function setup(tag: string): Topo {
  const world = new World(tag);
  try {
    const pod = world.pod('pod');
    const cid = `${tag}-${RUN_ID}`;
    const conf = bridgeConf(
      world,
      { name: NET, bridge: BRIDGE, ranges: [[{ subnet: '10.236.0.0/24' }]], cniVersion: '1.0.0' },
      { isGateway: true },
    );
    const add = cni(world.node, { command: 'ADD', conf, containerId: cid, netns: pod.path });
    if (add.status !== 0) throw new Error(`ADD failed: ${add.stdout} ${add.stderr}`);
    const { cniVersion, name, ...plugin } = conf as { cniVersion: string; name: string };
    const confFile = path.join(world.dataDir, 'hos.conflist');
    fs.writeFileSync(confFile, JSON.stringify({ cniVersion, name, plugins: [plugin] }));
    return { world, pod, cid, confFile };
  } catch (e) {
    world.cleanup();
    throw e;
  }
}

interface Run {
  status: number;
  stdout: string;
  stderr: string;
  json?: any;
}

function doctor(t: Topo, ...args: string[]): Run {
  const r = spawnSync(
    'ip',
    ['netns', 'exec', t.world.node, BIN, 'doctor', '--config', t.confFile, '--cache-dir', t.world.dataDir, ...args],
    { encoding: 'utf8', timeout: 120_000 },
  );
  let json: any;
  if (args.includes('--json')) {
    try {
      json = JSON.parse(r.stdout);
    } catch {
      json = undefined;
    }
  }
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '', json };
}

const show = (r: Run): string => `exit ${r.status}\n${r.stdout}\n${r.stderr}`;
const RAW_CONTROL = /[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f]/;
const ESC = '\x1b[2J';

test(
  'interface names a pod chose (x;reboot, an escape ' + 'sequence): quoted in every fix, escaped in text and JSON',
  () => {
    const t = setup('hosif');
    try {
      // two interfaces of the pod, down, each with an address of the network IPAM knows nothing of
      t.world.exec(t.pod.name, 'ip', ['link', 'add', 'x;reboot', 'type', 'veth', 'peer', 'name', 'tsbq0']);
      t.world.exec(t.pod.name, 'ip', ['link', 'add', ESC, 'type', 'veth', 'peer', 'name', 'tsbq1']);
      t.world.exec(t.pod.name, 'ip', ['addr', 'add', '10.236.0.50/24', 'dev', 'x;reboot']);
      t.world.exec(t.pod.name, 'ip', ['addr', 'add', '10.236.0.51/24', 'dev', ESC]);
      // (`ip -j` prints such a name raw, as invalid JSON: asked by name instead)
      assert.is(
        t.world.tryExec(t.pod.name, 'ip', ['link', 'show', 'dev', ESC]).status,
        0,
        'the escape-sequence name was not created',
      );

      const j = doctor(t, '--netns', t.pod.path, '--json');
      assert.is(j.status, 1, show(j));
      assert.not.match(j.stdout, RAW_CONTROL, 'a raw control character in the JSON');
      const byIf = new Map<string, any>(j.json.attachments.map((a: any) => [a.ifname, a]));
      assert.ok(
        byIf.has('eth0') && byIf.has('x;reboot') && byIf.has(ESC),
        `attachments: ${[...byIf.keys()].map((k) => JSON.stringify(k))}`,
      );
      const fixOf = (ifname: string): string =>
        byIf.get(ifname).findings.find((f: any) => f.piece === 'container.iface-up').fix;
      assert.is(fixOf('x;reboot'), `nsenter --net=${t.pod.path} ip link set 'x;reboot' up`);
      assert.is(fixOf(ESC), `nsenter --net=${t.pod.path} ip link set $'\\x1b[2J' up`);
      // the printed command does what it says: bash reads the quoted word back as the real name
      const word = fixOf(ESC).split(' ')[5];
      assert.is(spawnSync('bash', ['-c', `printf %s ${word}`], { encoding: 'utf8' }).stdout, ESC);

      const text = doctor(t, '--netns', t.pod.path);
      assert.is(text.status, 1, show(text));
      assert.not.match(text.stdout, RAW_CONTROL, 'a raw control character reached the terminal');
      assert.ok(text.stdout.includes(`ip link set 'x;reboot' up`), text.stdout);
      assert.ok(text.stdout.includes(`ip link set $'\\x1b[2J' up`), text.stdout);
      assert.ok(text.stdout.includes('(no IPAM record)/\\x1b[2J '), 'the name is shown escaped in the titles');
      assert.not.match(text.stdout, /ip link set x;reboot/, 'an unquoted name in a command');
    } finally {
      t.world.cleanup();
    }
  },
);

test(
  'IPAM records with IDs no runtime gives ($(reboot), ../x): ' + 'named as corrupt, never an attachment, in no command',
  () => {
    const t = setup('hosrec');
    try {
      const dir = path.join(t.world.dataDir, NET);
      fs.writeFileSync(path.join(dir, '10.236.0.60'), '$(reboot)\r\neth0');
      fs.writeFileSync(path.join(dir, '10.236.0.61'), '../x\r\neth0');
      fs.writeFileSync(path.join(dir, '10.236.0.62'), 'c;d\r\nx;y');
      // a libcni cache entry where the ../x ID would lead a path: doctor must not read it
      fs.mkdirSync(path.join(t.world.dataDir, 'results', `${NET}-..`), { recursive: true });
      fs.writeFileSync(
        path.join(t.world.dataDir, 'results', `${NET}-..`, 'x-eth0'),
        JSON.stringify({ netns: t.pod.path }),
      );

      const j = doctor(t, '--json');
      assert.is(j.status, 1, `corrupt records leave the report healthy: ${show(j)}`);
      assert.not.match(j.stdout, RAW_CONTROL);
      assert.equal(j.json.corruptRecords.map((c: any) => c.ip).sort(), ['10.236.0.60', '10.236.0.61', '10.236.0.62']);
      const ids = j.json.attachments.map((a: any) => a.containerId);
      assert.equal(ids, [t.cid], 'only the real attachment is checked (positive control: it is there)');
      const fixes: string[] = j.json.findings.map((f: any) => f.fix ?? '');
      assert.not.ok(
        fixes.some((f) => f.includes('reboot') || f.includes('../x')),
        fixes.join('\n'),
      );

      const text = doctor(t);
      assert.is(text.status, 1);
      assert.not.match(text.stdout, RAW_CONTROL);
      assert.match(
        text.stdout,
        /note: IPAM record .*10\.236\.0\.60: container ID "\$\(reboot\)" is not one a runtime gives/,
      );
      const fixLines = text.stdout.split('\n').filter((l) => /fix:/.test(l));
      assert.not.ok(
        fixLines.some((l) => l.includes('reboot') || l.includes('../x')),
        fixLines.join('\n'),
      );
      // targeting one is refused as usage (exit 2), not looked up
      assert.is(doctor(t, '--container', '$(reboot)').status, 2);
    } finally {
      t.world.cleanup();
    }
  },
);

/** A process holding a new network namespace with `ip` on lo; `unprivileged`: made by nobody with `unshare -Urn`. */
function squatter(ip: string, unprivileged: boolean): Promise<ChildProcess> {
  const script = `ip link set lo up && ip addr add ${ip}/24 dev lo && echo ready && exec sleep 120`;
  const argv = unprivileged
    ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'unshare', '-Urn', 'sh', '-c', script]
    : ['unshare', '-n', 'sh', '-c', script];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('exit', (c) => reject(new Error(`squatter exited with ${c}: ${err}`)));
    child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve(child));
  });
}

/** The pid whose network namespace the squatter holds (sleep, after exec). */
const holder = (c: ChildProcess): number => c.pid!;

test(
  "a gone container's IP in a namespace of another user namespace (unshare -Urn) is not taken for it; in one of " +
    'ours it is',
  async () => {
    const t = setup('hosuns');
    const kids: ChildProcess[] = [];
    try {
      // the container goes away; its reservation stays (the leak doctor reports)
      const veth = hostVethName(t.cid, 'eth0');
      assert.ok(t.world.links(t.world.node).includes(veth), 'the host veth exists before its namespace goes');
      sh('ip', ['netns', 'del', t.pod.name]);
      // the kernel tears a deleted namespace (and the veth pair with it) down asynchronously
      for (let i = 0; i < 200 && t.world.links(t.world.node).includes(veth); i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.not.ok(t.world.links(t.world.node).includes(veth), 'the veth pair went with the namespace');
      const before = doctor(t, '--json', '--container', t.cid);
      assert.equal(
        before.json?.attachments[0].findings.map((f: any) => f.piece),
        ['netns.gone'],
        show(before),
      );

      const evil = await squatter(POD_IP, true);
      kids.push(evil);
      const nsOwner = fs.readlinkSync(`/proc/${holder(evil)}/ns/user`);
      assert.is.not(nsOwner, fs.readlinkSync('/proc/self/ns/user'), 'the squatter is not in its own user namespace');
      const r = doctor(t, '--json', '--container', t.cid);
      const a = r.json?.attachments[0];
      assert.ok(a, show(r));
      assert.is(a.netns, undefined, `doctor took the unprivileged namespace for the container: ${show(r)}`);
      assert.equal(
        a.findings.map((f: any) => f.piece),
        ['netns.gone'],
      );
      assert.is(doctor(t, '--json', '--ip', POD_IP).json?.attachments[0].netns, undefined, '--ip picked it');
      evil.kill('SIGKILL');

      // positive control: the same squatting from our own user namespace is found by address
      const ours = await squatter(POD_IP, false);
      kids.push(ours);
      const p = doctor(t, '--json', '--container', t.cid);
      assert.is(p.json?.attachments[0].netns, `/proc/${holder(ours)}/ns/net`, show(p));
      assert.is(p.json?.attachments[0].netnsFoundBy, 'address');
    } finally {
      for (const k of kids) k.kill('SIGKILL');
      t.world.cleanup();
    }
  },
);

test(
  '--netns naming a FIFO or a plain file: doctor ends (no hang) with "not a network namespace"; a real one is ' +
    'read',
  () => {
    const t = setup('hosfifo');
    try {
      const fifo = path.join(t.world.dataDir, 'fifo');
      const file = path.join(t.world.dataDir, 'plain');
      spawnSync('mkfifo', [fifo]);
      fs.writeFileSync(file, '');
      assert.ok(fs.statSync(fifo).isFIFO());
      for (const p of [fifo, file]) {
        const r = doctor(t, '--netns', p, '--json'); // spawnSync's 120 s timeout bounds a hang (status -1)
        assert.is(r.status, 1, show(r));
        assert.match(r.stderr, `failed to open netns ${JSON.stringify(p)}: not a network namespace`);
      }
      // positive control: the pod's namespace through the same flag
      const ok = doctor(t, '--netns', t.pod.path, '--json');
      assert.is(ok.status, 0, show(ok));
      assert.equal(
        ok.json.attachments.map((a: any) => a.containerId),
        [t.cid],
      );
    } finally {
      t.world.cleanup();
    }
  },
);

test.run();
