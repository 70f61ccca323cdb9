// conf/kubernetes: the manifests parse as YAML (JSON documents with # comment lines; cross-checked
// with the npm `yaml` parser) and carry what a CNI DaemonSet needs, and nothing more.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseAllDocuments } from 'yaml';
import { INSTALL, PROBE, ROUTES, UNINSTALL } from '../../src/k8s/cli';
import { parsePodCidrs } from '../../src/k8s/cidr';
import { parseFlags } from '../../src/flags';

const DIR = path.resolve(__dirname, '../../../../conf/kubernetes');

/** The YAML subset these files use: documents split by "---" lines, "#" comment lines, JSON bodies. */
function parseDocs(file: string): any[] {
  const text = fs.readFileSync(path.join(DIR, file), 'utf8');
  return text
    .split(/^---[ \t]*$/m)
    .map((d) =>
      d
        .split('\n')
        .filter((l) => !/^\s*#/.test(l))
        .join('\n')
        .trim(),
    )
    .filter(Boolean)
    .map((d) => JSON.parse(d));
}

/** The same file through a real YAML parser (what kubectl does): every document, errors fail. */
function realYaml(file: string): unknown[] {
  const docs = parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8'));
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  for (const d of docs) if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
  return docs.map((d) => d.toJS()).filter((d) => d !== null && d !== undefined);
}

const byKind = (docs: any[], kind: string): any => {
  const found = docs.filter((d) => d.kind === kind);
  assert.is(found.length, 1, `one ${kind}`);
  return found[0];
};

const install = parseDocs('tsbridge.yaml');
const uninstall = parseDocs('tsbridge-uninstall.yaml');

test('both files parse; a real YAML parser reads the same documents', () => {
  assert.equal(
    install.map((d) => d.kind),
    ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'DaemonSet'],
  );
  assert.equal(
    uninstall.map((d) => d.kind),
    ['DaemonSet'],
  );
  for (const [file, docs] of [
    ['tsbridge.yaml', install],
    ['tsbridge-uninstall.yaml', uninstall],
  ] as const) {
    assert.equal(realYaml(file), docs, file);
  }
});

test('RBAC: get/list/watch on nodes only, bound to the DaemonSet service account', () => {
  const ns = byKind(install, 'Namespace').metadata.name;
  const sa = byKind(install, 'ServiceAccount');
  const role = byKind(install, 'ClusterRole');
  const binding = byKind(install, 'ClusterRoleBinding');
  assert.is(sa.metadata.namespace, ns);
  assert.equal(role.rules, [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
  assert.equal(binding.roleRef, {
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    name: role.metadata.name,
  });
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: ns }]);
  const ds = byKind(install, 'DaemonSet');
  assert.is(ds.metadata.namespace, ns);
  assert.is(ds.spec.template.spec.serviceAccountName, sa.metadata.name);
});

/** The pod-level checks of a DaemonSet; its containers by name. */
function checkPod(ds: any): Record<string, any> {
  const pod = ds.spec.template.spec;
  assert.equal(
    ds.spec.selector.matchLabels,
    Object.fromEntries(
      Object.entries(ds.spec.template.metadata.labels).filter(([k]) => k in ds.spec.selector.matchLabels),
    ),
  );
  assert.is(ds.spec.updateStrategy.type, 'RollingUpdate');
  assert.is(pod.hostNetwork, true);
  // every node, whatever its taints (NoSchedule, NoExecute, not-ready): an operator-Exists toleration with no key
  assert.ok(pod.tolerations.some((t: any) => t.operator === 'Exists' && t.key === undefined && t.effect === undefined));
  // no volume nobody mounts
  const used = new Set(pod.containers.flatMap((c: any) => c.volumeMounts.map((m: any) => m.name)));
  assert.equal(
    pod.volumes.map((v: any) => v.name).filter((n: string) => !used.has(n)),
    [],
    'unused volumes',
  );
  return Object.fromEntries(pod.containers.map((c: any) => [c.name, c]));
}

/** One container: locked down, exactly `caps` added, exactly `mounts` (hostPath type, or undefined for an emptyDir). */
function checkContainer(ds: any, c: any, caps: string[], mounts: Record<string, string | undefined>): void {
  const pod = ds.spec.template.spec;
  assert.equal(c.securityContext.capabilities, caps.length ? { drop: ['ALL'], add: caps } : { drop: ['ALL'] }, c.name);
  assert.is(c.securityContext.privileged, false);
  assert.is(c.securityContext.allowPrivilegeEscalation, false);
  assert.is(c.securityContext.readOnlyRootFilesystem, true);
  // hostPath volumes, each mounted at the same path inside
  const vols = new Map<string, any>(pod.volumes.map((v: any) => [v.name, v]));
  const mounted = new Map<string, string>(c.volumeMounts.map((m: any) => [m.mountPath, m.name]));
  for (const [p, type] of Object.entries(mounts)) {
    const v = vols.get(mounted.get(p) ?? '');
    assert.ok(v, `${c.name}: ${p} mounted`);
    if (type) assert.equal(v.hostPath, { path: p, type }, p);
    else assert.ok(v.emptyDir, `${p} is an emptyDir`);
  }
  assert.equal([...mounted.keys()].sort(), Object.keys(mounts).sort(), `${c.name}: no other mounts`);
  // the binary drops NODE_* variables at start: none may carry configuration
  assert.not.ok((c.env ?? []).some((e: any) => e.name.startsWith('NODE_')));
  assert.is(c.command[0], '/usr/local/bin/tsbridge');
}

const envOf = (c: any): Record<string, string> =>
  Object.fromEntries(c.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));

test('DaemonSet: the installer (CNI dirs, no capability) and the route agent (NET_ADMIN, no hostPath) apart', () => {
  const ds = byKind(install, 'DaemonSet');
  const c = checkPod(ds);
  assert.equal(Object.keys(c), ['install', 'routes']);
  checkContainer(ds, c.install, [], {
    '/opt/cni/bin': 'DirectoryOrCreate',
    '/etc/cni/net.d': 'DirectoryOrCreate',
    '/run': undefined,
  });
  // each its own /run: the installer cannot plant native modules the NET_ADMIN agent would load
  const runVol = (x: any) => x.volumeMounts.find((m: any) => m.mountPath === '/run').name;
  assert.is.not(runVol(c.install), runVol(c.routes));
  // the process that talks to the API and programs routes can write no file root executes
  checkContainer(ds, c.routes, ['NET_ADMIN'], { '/run': undefined });
  // nothing of the host that neither needs: no iptables lock, no IPAM store
  const paths = ds.spec.template.spec.volumes
    .filter((v: any) => v.hostPath)
    .map((v: any) => v.hostPath.path)
    .sort();
  assert.equal(paths, ['/etc/cni/net.d', '/opt/cni/bin']);
  for (const x of [c.install, c.routes]) {
    assert.equal(x.env.find((e: any) => e.name === 'TSBRIDGE_NODE_NAME').valueFrom, {
      fieldRef: { fieldPath: 'spec.nodeName' },
    });
    assert.is(x.image, c.install.image);
  }
  // the command lines and the TSBRIDGE_* environment are accepted by the binary's own flag parser
  assert.is(c.install.command[1], 'install');
  const fi = parseFlags(c.install.command.slice(2), INSTALL, { ...envOf(c.install), TSBRIDGE_NODE_NAME: 'node-x' });
  assert.equal(
    { watch: fi.watch, routes: fi.routes, node: fi['node-name'], masq: fi['ip-masq'] },
    { watch: true, routes: undefined, node: 'node-x', masq: false },
  );
  assert.is(c.routes.command[1], 'routes');
  const fr = parseFlags(c.routes.command.slice(2), ROUTES, { ...envOf(c.routes), TSBRIDGE_NODE_NAME: 'node-x' });
  // the agent needs the cluster CIDR; the installer checks the node's own CIDR against the same one
  assert.ok(parsePodCidrs(fr['cluster-cidr'] as string[], 'cluster CIDR').length);
  assert.equal(fi['cluster-cidr'], fr['cluster-cidr']);
});

test(
  'probes: exec `tsbridge probe` (readiness) and `probe --live` (liveness) on the status file each container ' +
    'writes',
  () => {
    const c = checkPod(byKind(install, 'DaemonSet'));
    for (const [name, cmd, spec] of [
      ['install', c.install, INSTALL],
      ['routes', c.routes, ROUTES],
    ] as const) {
      const env: Record<string, string> = { ...envOf(cmd), TSBRIDGE_NODE_NAME: 'n' };
      const file = env.TSBRIDGE_STATUS_FILE;
      assert.ok(file?.startsWith('/run/'), `${name}: status file in its /run emptyDir`);
      // the agent writes it (its flags, from the environment) ...
      assert.is(parseFlags(cmd.command.slice(2), spec, env)['status-file'], file, name);
      // ... and the probes, run in the same container with the same environment, read it
      const ready = cmd.readinessProbe.exec.command;
      const live = cmd.livenessProbe.exec.command;
      assert.equal(ready.slice(0, 2), ['/usr/local/bin/tsbridge', 'probe'], name);
      assert.equal(live.slice(0, 2), ['/usr/local/bin/tsbridge', 'probe'], name);
      assert.equal(parseFlags(ready.slice(2), PROBE, env), { 'status-file': file }, name);
      assert.equal(parseFlags(live.slice(2), PROBE, env), { 'status-file': file, live: true }, name);
      // the heartbeat is written at half the period: a liveness check rarer than that is meaningful
      assert.ok(cmd.livenessProbe.failureThreshold * cmd.livenessProbe.periodSeconds >= 60, name);
    }
  },
);

test("image tags and versions in conf/kubernetes are package.json's version", () => {
  const version = JSON.parse(fs.readFileSync(path.resolve(DIR, '../../package.json'), 'utf8')).version;
  const images = [install, uninstall]
    .flatMap((docs) => docs.filter((d) => d.kind === 'DaemonSet'))
    .flatMap((ds) => ds.spec.template.spec.containers.map((c: any) => c.image));
  assert.ok(images.length >= 3);
  for (const img of images) assert.is(img, `localhost/tsbridge:${version}`);
  // every tag written in the folder's files (comments, examples) too
  for (const f of fs.readdirSync(DIR)) {
    for (const m of fs.readFileSync(path.join(DIR, f), 'utf8').matchAll(/tsbridge:(\d+\.\d+\.\d+[^\s"',]*)/g))
      assert.is(m[1], version, `${f}: ${m[0]}`);
  }
});

test('the image is to be pinned by digest: the manifest says so and build-image.sh prints it', () => {
  assert.match(
    fs.readFileSync(path.join(DIR, 'tsbridge.yaml'), 'utf8'),
    /pin it by digest \(REGISTRY\/tsbridge@sha256:/,
  );
  const script = fs.readFileSync(path.join(DIR, 'build-image.sh'), 'utf8');
  assert.match(script, /--digestfile/);
  assert.match(script, /pin it in conf\/kubernetes\/\*\.yaml as {2}image: \$ref@/);
});

test('the image is two-architecture: build-image.sh builds amd64 and arm64 and pushes their manifest list', () => {
  const script = fs.readFileSync(path.join(DIR, 'build-image.sh'), 'utf8');
  assert.match(script, /for arch in amd64 arm64; do\n[^\n]*\n\s*buildah bud [^\n]*--arch \$arch /);
  assert.match(script, /buildah manifest create "\$tag"/);
  assert.match(script, /buildah manifest push --all [^\n]*--digestfile/);
  assert.match(script, /^bin_arm64=\$bin-arm64$/m); // build/bin/tsbridge-arm64 by default (next to TSBRIDGE_BIN)
});

test('build-image.sh never deletes a context directory it did not stage', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsbt-k8sctx-'));
  try {
    const stage = (ctx: string) =>
      spawnSync('bash', [path.join(DIR, 'build-image.sh'), '--stage-only'], {
        env: { ...process.env, TSBRIDGE_IMAGE_CONTEXT: ctx },
        encoding: 'utf8',
      });
    // looks staged (the binary is there) but holds something else too
    fs.mkdirSync(path.join(dir, 'home', 'usr', 'local', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'home', 'usr', 'local', 'bin', 'tsbridge'), 'x');
    fs.writeFileSync(path.join(dir, 'home', 'precious'), 'keep me');
    for (const ctx of ['/', path.join(dir, 'home'), `${dir}/home/../home`, path.join(dir, 'home', 'precious')]) {
      const r = stage(ctx);
      assert.is(r.status, 1, ctx);
      assert.match(r.stderr, /is not a tree this script staged: refusing to delete it/, ctx);
    }
    assert.is(fs.readFileSync(path.join(dir, 'home', 'precious'), 'utf8'), 'keep me');
    // the arm64 tree (context + "-arm64") is checked too, before the amd64 one is touched
    const amd = path.join(dir, 'new');
    fs.mkdirSync(path.join(amd, 'usr', 'local', 'bin'), { recursive: true });
    fs.writeFileSync(path.join(amd, 'usr', 'local', 'bin', 'tsbridge'), 'staged before');
    fs.mkdirSync(`${amd}-arm64`);
    fs.writeFileSync(path.join(`${amd}-arm64`, 'precious'), 'keep me');
    const r = stage(amd);
    assert.is(r.status, 1);
    assert.match(r.stderr, `${amd}-arm64 exists and is not a tree this script staged: refusing to delete it`);
    assert.is(fs.readFileSync(path.join(`${amd}-arm64`, 'precious'), 'utf8'), 'keep me');
    assert.is(fs.readFileSync(path.join(amd, 'usr', 'local', 'bin', 'tsbridge'), 'utf8'), 'staged before');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('clean-up DaemonSet: same image, uninstall --routes --stay, bin and conf dirs only', () => {
  const ds = byKind(uninstall, 'DaemonSet');
  const cs = checkPod(ds);
  assert.equal(Object.keys(cs), ['uninstall']);
  const c = cs.uninstall;
  checkContainer(ds, c, ['NET_ADMIN'], {
    '/opt/cni/bin': 'DirectoryOrCreate',
    '/etc/cni/net.d': 'DirectoryOrCreate',
    '/run': undefined,
  });
  assert.is(c.image, byKind(install, 'DaemonSet').spec.template.spec.containers[0].image);
  assert.is(c.command[1], 'uninstall');
  const flags = parseFlags(c.command.slice(2), UNINSTALL);
  assert.equal(flags, { routes: true, stay: true });
  assert.is(ds.spec.template.spec.automountServiceAccountToken, false, 'needs no API access');
  assert.is(ds.metadata.namespace, byKind(install, 'Namespace').metadata.name);
});

test('image definition puts the binary where the DaemonSets run it', () => {
  const cf = fs.readFileSync(path.join(DIR, 'Containerfile'), 'utf8');
  assert.match(cf, /^FROM scratch$/m);
  assert.match(cf, /^ENTRYPOINT \["\/usr\/local\/bin\/tsbridge"\]$/m);
  // stage() puts each architecture's binary there, in both trees
  const script = fs.readFileSync(path.join(DIR, 'build-image.sh'), 'utf8');
  assert.match(script, /cp "\$2" "\$1\/usr\/local\/bin\/tsbridge"/);
  assert.match(script, /stage "\$ctx" "\$bin"\n/);
  assert.match(script, /stage "\$ctx_arm64" "\$bin_arm64"\n/);
});

test.run();
