// What an operator meets around the plugin, without root: log settings from the netconf, JSON lines
// and the log file's rotation, the probes' status files, kubeconfig parsing and the API client
// through one (against the fake API server), the conflist's log keys, the version's source.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BUILD, versionInfo } from '../../src/build-info';
import { ApiClient, apiConfig } from '../../src/k8s/api';
import { renderConflist } from '../../src/k8s/conflist';
import { HelpRequest, parseFlags, UsageError } from '../../src/flags';
import { parseKubeconfig } from '../../src/k8s/kubeconfig';
import { fileStamp, JobStatus, markNow, probeProblem, probeStatusFile, StatusWriter } from '../../src/k8s/status';
import { closeLogFile, configureLog, log, logSettingsOf, redirectLogStderr, setLogContext, trace } from '../../src/log';
import { FakeApi, makeNode } from '../helpers/k8s-fake-api';
import { ROOT } from '../helpers/paths';

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-oper-'));

test('flags: -h and --help are help requests wherever a flag may stand; other dashes stay usage errors', () => {
  for (const argv of [['-h'], ['--help'], ['--watch', '--help'], ['--network', 'x', '-h']]) {
    assert.throws(
      () => parseFlags(argv, { watch: 'bool', network: 'string' }),
      (e: unknown) => e instanceof HelpRequest,
      argv.join(' '),
    );
  }
  assert.throws(
    () => parseFlags(['-x'], {}),
    (e: unknown) => e instanceof UsageError && !(e instanceof HelpRequest),
  );
  // a value that happens to be "--help" is a value
  assert.equal(parseFlags(['--network', '--help'], { network: 'string' }), { network: '--help' });
});

test('version: from package.json (unbundled), with the CNI versions', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.is(BUILD.version, pkg.version);
  const v = versionInfo();
  assert.is(v.version, pkg.version);
  assert.ok((v.cniVersions as string[]).includes('1.1.0'));
  assert.match(String(v.runtime), /^(node|bun) /);
});

test('log settings of a netconf: the three keys, each checked and naming what is accepted', () => {
  assert.equal(logSettingsOf({ logLevel: 'info', logFile: '/var/log/tsbridge.log', logFormat: 'json', other: 1 }), {
    logLevel: 'info',
    logFile: '/var/log/tsbridge.log',
    logFormat: 'json',
  });
  assert.equal(logSettingsOf({}), {});
  assert.throws(
    () => logSettingsOf({ logLevel: 'verbose' }),
    /logLevel: "verbose" is not a log level \(error, warn, info, debug\)/,
  );
  assert.throws(() => logSettingsOf({ logFormat: 'xml' }), /logFormat: "xml" is not a log format \(text, json\)/);
  assert.throws(() => logSettingsOf({ logFile: 'rel/x.log' }), /not an absolute path/);
  assert.throws(() => logSettingsOf({ logLevel: 3 }), /logLevel must be a string/);
});

/** Log lines written while `fn` runs with stderr silenced (they also go to stderr). */
function quiet(fn: () => void): void {
  redirectLogStderr(() => undefined);
  try {
    fn();
  } finally {
    redirectLogStderr(null);
  }
}

test(
  'JSON lines carry the context, the phase, its duration ' + 'and the CNI code; the environment wins over the netconf',
  () => {
    const d = tmp();
    try {
      const file = path.join(d, 'plugin.log');
      const other = path.join(d, 'other.log');
      quiet(() => {
        // env says json + this file; the netconf's text format and other file lose, its level applies
        configureLog(
          { TSBRIDGE_LOG_FORMAT: 'json', TSBRIDGE_LOG_FILE: file },
          { logLevel: 'debug', logFormat: 'text', logFile: other },
        );
        setLogContext({ command: 'ADD', containerID: 'c1', ifname: 'eth0', netns: '/run/netns/p\nx', network: 'net' });
        trace('ipam allocated');
        log.info('ADD ok: eth0 10.1.0.5/24 on cni0', { phase: 'done', durationMs: 12.345 });
        log.error('ADD failed: no addresses', { phase: 'ipam allocated', durationMs: 3, code: 101 });
      });
      closeLogFile();
      assert.not.ok(fs.existsSync(other), "the environment's file wins");
      const lines = fs
        .readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      assert.is(lines.length, 3);
      for (const l of lines) {
        assert.match(l.time, /^\d{4}-\d\d-\d\dT/);
        assert.equal(
          [l.command, l.containerID, l.ifname, l.netns, l.network],
          ['ADD', 'c1', 'eth0', '/run/netns/p\nx', 'net'],
        );
      }
      assert.equal([lines[0].level, lines[0].phase, typeof lines[0].durationMs], ['debug', 'ipam allocated', 'number']);
      assert.equal(
        [lines[1].level, lines[1].phase, lines[1].durationMs, lines[1].msg],
        ['info', 'done', 12.3, 'ADD ok: eth0 10.1.0.5/24 on cni0'],
      );
      assert.equal([lines[2].level, lines[2].code], ['error', 101]);
      // the raw newline of a hostile netns path is escaped: one record, one line
      assert.is(fs.readFileSync(file, 'utf8').trim().split('\n').length, 3);
    } finally {
      closeLogFile();
      configureLog({}, { logLevel: 'warn', logFormat: 'text' });
      fs.rmSync(d, { recursive: true, force: true });
    }
  },
);

test('the log file is rotated at the cap to one .1 file: at most twice the cap on disk, newest lines kept', () => {
  const d = tmp();
  try {
    const file = path.join(d, 'rot.log');
    const cap = 4096;
    quiet(() => {
      configureLog({}, { logLevel: 'info', logFile: file, logFormat: 'text' }, { maxBytes: cap });
      for (let i = 0; i < 200; i++) log.info(`line ${i} ${'x'.repeat(60)}`);
    });
    closeLogFile();
    assert.ok(fs.existsSync(`${file}.1`), 'rotated');
    assert.equal(fs.readdirSync(d).sort(), ['rot.log', 'rot.log.1'], 'one old file only');
    assert.ok(fs.statSync(file).size <= cap, `size ${fs.statSync(file).size}`);
    assert.ok(fs.statSync(`${file}.1`).size <= cap);
    assert.match(fs.readFileSync(file, 'utf8'), /line 199 /);
    assert.is((fs.statSync(file).mode & 0o777).toString(8), '600');
    // another process rotated the file away meanwhile: it is not renamed again (its .1 survives), ours is reopened
    fs.rmSync(`${file}.1`);
    fs.writeFileSync(file, 'y'.repeat(cap - 10) + '\n', { mode: 0o600 });
    quiet(() => {
      configureLog({}, { logFile: file }, { maxBytes: cap });
      fs.renameSync(file, `${file}.1`);
      fs.writeFileSync(file, '', { mode: 0o600 });
      log.info('after the other rotation');
    });
    closeLogFile();
    assert.is(fs.readFileSync(`${file}.1`, 'utf8'), 'y'.repeat(cap - 10) + '\n', "the other process's .1 kept");
    assert.match(fs.readFileSync(file, 'utf8'), /^\S+ tsbridge\[\d+\] info: after the other rotation\n$/);
  } finally {
    closeLogFile();
    configureLog({}, { logLevel: 'warn', logFormat: 'text' }, { maxBytes: 10 << 20 });
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('the log file is never followed through a symlink, also when rotating', () => {
  const d = tmp();
  try {
    const file = path.join(d, 'l.log');
    const target = path.join(d, 'victim');
    fs.writeFileSync(target, 'keep\n', { mode: 0o600 });
    fs.symlinkSync(target, file);
    let err = '';
    redirectLogStderr((s) => {
      err += s;
    });
    try {
      configureLog({}, { logLevel: 'info', logFile: file });
      log.info('hello');
    } finally {
      redirectLogStderr(null);
    }
    assert.match(err, /cannot open log file/);
    assert.is(fs.readFileSync(target, 'utf8'), 'keep\n');
  } finally {
    closeLogFile();
    configureLog({}, { logLevel: 'warn' });
    fs.rmSync(d, { recursive: true, force: true });
  }
});

test('probe: live by heartbeat; ready by a recent success and unchanged files', () => {
  const now = 1_000_000;
  const st: JobStatus = { job: 'routes', aliveAt: now - 1000, maxAgeMs: 30_000, okAt: now - 5000 };
  const same = (m: { path: string }) => m;
  assert.is(probeProblem(st, now, false, same), '');
  assert.match(probeProblem({ ...st, aliveAt: now - 31_000 }, now, true, same), /last heartbeat 31s ago .*stuck/);
  assert.is(probeProblem({ ...st, okAt: now - 60_000 }, now, true, same), '', 'live even when the syncs fail');
  assert.match(
    probeProblem({ ...st, okAt: now - 60_000, error: 'EPERM' }, now, false, same),
    /last success 60s ago .*last error: EPERM/,
  );
  assert.match(
    probeProblem({ ...st, okAt: undefined, error: 'waiting for the first list of the nodes' }, now, false, same),
    /no successful route sync yet \(waiting/,
  );
  const files = {
    ...st,
    job: 'install' as const,
    files: [
      { path: '/x/tsbridge', stamp: '1:2:3' },
      { path: '/x/c.conflist', sha256: 'ab' },
    ],
  };
  assert.is(probeProblem(files, now, false, same), '');
  assert.match(
    probeProblem(files, now, false, (m) => (m.stamp ? { ...m, stamp: '1:2:4' } : m)),
    /\/x\/tsbridge changed since the last check/,
  );
  assert.match(
    probeProblem(files, now, false, (m) => (m.sha256 ? undefined : m)),
    /\/x\/c\.conflist is missing/,
  );
});

test('probe: a status file written by StatusWriter; a replaced binary or an edited conflist is not ready', () => {
  const d = tmp();
  try {
    const bin = path.join(d, 'tsbridge');
    const conf = path.join(d, '10-tsbridge.conflist');
    fs.writeFileSync(bin, 'binary');
    fs.writeFileSync(conf, '{}');
    const status = path.join(d, 'run', 'tsbridge', 'status.json');
    assert.match(probeStatusFile(status, true), /no status in/);
    const w = new StatusWriter(status, 'install', 10_000);
    w.record('installing');
    assert.is(probeStatusFile(status, true), '', 'alive');
    assert.match(probeStatusFile(status, false), /no successful install check yet \(installing\)/);
    w.record(undefined, [markNow(bin, 'stamp')!, markNow(conf, 'sha256')!]);
    assert.is(probeStatusFile(status, false), '');
    assert.is(fileStamp(fs.lstatSync(bin)), markNow(bin, 'stamp')!.stamp);
    fs.writeFileSync(conf, '{"edited":1}');
    assert.match(probeStatusFile(status, false), /10-tsbridge\.conflist changed/);
    fs.writeFileSync(conf, '{}');
    assert.is(probeStatusFile(status, false), '');
    fs.rmSync(bin);
    fs.writeFileSync(bin, 'binary');
    assert.match(
      probeStatusFile(status, false),
      /tsbridge changed since the last check/,
      'same bytes, another file: checked again by the installer first',
    );
    assert.is(probeStatusFile(status, true), '');
    // stale: far in the future the heartbeat is old
    assert.match(probeStatusFile(status, true, Date.now() + 60_000), /stuck or gone/);
  } finally {
    fs.rmSync(d, { recursive: true, force: true });
  }
});

const KCFG = (cluster: string, user: string): string => `apiVersion: v1
kind: Config
current-context: edge
contexts:
- name: other
  context: { cluster: nowhere, user: nobody }
- name: edge
  context:
    cluster: c1
    user: u1
clusters:
- name: c1
  cluster:
${cluster}
users:
- name: u1
  user:
${user}
`;

test('kubeconfig: the current context; files relative to the kubeconfig; what is refused names the fix', () => {
  const k = parseKubeconfig(
    KCFG('    server: https://10.0.0.1:6443\n    certificate-authority: pki/ca.crt', '    tokenFile: tok'),
    '/etc/k',
  );
  assert.equal(k, { server: 'https://10.0.0.1:6443', caFile: '/etc/k/pki/ca.crt', tokenFile: '/etc/k/tok' });
  const inline = parseKubeconfig(
    KCFG(
      '    server: https://h:6443\n    certificate-authority-data: ' + Buffer.from('CA').toString('base64'),
      '    client-certificate-data: ' + Buffer.from('CERT').toString('base64') + '\n    client-key: /abs/key.pem',
    ),
    '/d',
  );
  assert.equal([inline.ca?.toString(), inline.cert?.toString(), inline.keyFile], ['CA', 'CERT', '/abs/key.pem']);
  const bad = (c: string, u: string, re: RegExp) => assert.throws(() => parseKubeconfig(KCFG(c, u), '/d', 'kc'), re);
  bad(
    '    server: https://h\n    insecure-skip-tls-verify: true',
    '    token: t',
    /insecure-skip-tls-verify is refused/,
  );
  bad('    server: https://h', '    token: t', /names no certificate-authority/);
  bad(
    '    server: https://h\n    certificate-authority: ca',
    '    exec: { command: aws }',
    /exec or auth-provider plugin, which tsbridge does not run/,
  );
  bad(
    '    server: https://h\n    certificate-authority: ca',
    '    username: x',
    /no token, tokenFile or client certificate/,
  );
  bad('    server: https://h\n    certificate-authority: ca', '    client-certificate: c.pem', /without its key/);
  assert.throws(() => parseKubeconfig('apiVersion: v1\nkind: Config\n', '/d', 'kc'), /no current-context/);
});

test(
  '--kubeconfig: the API client reaches the fake API server ' + 'with a kubeconfig (inline CA + token, and files)',
  async () => {
    const api = new FakeApi(['127.0.0.1']);
    const d = tmp();
    try {
      await api.listen({ host: '127.0.0.1' });
      api.setNode(makeNode('n1', ['10.244.1.0/24'], ['192.0.2.1']));
      const inline = path.join(d, 'inline.yaml');
      fs.writeFileSync(
        inline,
        KCFG(
          `    server: ${api.url('127.0.0.1')}\n    certificate-authority-data: ` +
            `${fs.readFileSync(api.caFile).toString('base64')}`,
          `    token: ${api.token}`,
        ),
      );
      fs.copyFileSync(api.caFile, path.join(d, 'ca.crt'));
      fs.copyFileSync(api.tokenFile, path.join(d, 'token'));
      const files = path.join(d, 'files.yaml');
      fs.writeFileSync(
        files,
        KCFG(`    server: ${api.url('127.0.0.1')}\n    certificate-authority: ca.crt`, '    tokenFile: token'),
      );
      for (const kc of [inline, files]) {
        const node = await new ApiClient(apiConfig({ kubeconfig: kc }, {})).get<{ spec: { podCIDRs: string[] } }>(
          '/api/v1/nodes/n1',
        );
        assert.equal(node.spec.podCIDRs, ['10.244.1.0/24'], kc);
      }
      assert.ok(api.requests.length >= 2 && api.requests.every((r) => r.authorized));
      // the wrong CA in a kubeconfig fails the TLS check
      fs.writeFileSync(
        files,
        KCFG(
          `    server: ${api.url('127.0.0.1')}\n    certificate-authority: ${api.otherCaFile}`,
          '    tokenFile: token',
        ),
      );
      await new ApiClient(apiConfig({ kubeconfig: files }, {})).get('/api/v1/nodes/n1').then(
        () => assert.unreachable('wrong CA accepted'),
        (e: Error) => assert.match(e.message, /certificate/),
      );
    } finally {
      api.close();
      fs.rmSync(d, { recursive: true, force: true });
    }
  },
);

test('install --log-*: the conflist carries logLevel/logFile/logFormat in the plugin, and only when given', () => {
  const base = { network: 'tsbridge', bridge: 'cni0', podCidrs: ['10.244.1.0/24'], ipMasq: false };
  const withLog = JSON.parse(
    renderConflist({ ...base, log: { logLevel: 'info', logFile: '/var/log/tsbridge.log', logFormat: 'json' } }),
  );
  assert.equal(logSettingsOf(withLog.plugins[0]), {
    logLevel: 'info',
    logFile: '/var/log/tsbridge.log',
    logFormat: 'json',
  });
  const plain = JSON.parse(renderConflist(base));
  assert.equal(logSettingsOf(plain.plugins[0]), {});
});

test.run();
