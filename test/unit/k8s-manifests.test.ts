// conf/kubernetes: the manifests parse as YAML (JSON documents with # comment lines; cross-checked
// with PyYAML when python3 has it) and carry what a CNI DaemonSet needs, and nothing more.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { INSTALL, UNINSTALL } from '../../src/k8s/cli';
import { parseFlags } from '../../src/k8s/flags';

const DIR = path.resolve(__dirname, '../../../../conf/kubernetes');

/** The YAML subset these files use: documents split by "---" lines, "#" comment lines, JSON bodies. */
function parseDocs(file: string): any[] {
  const text = fs.readFileSync(path.join(DIR, file), 'utf8');
  return text.split(/^---[ \t]*$/m)
    .map((d) => d.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').trim())
    .filter(Boolean)
    .map((d) => JSON.parse(d));
}

function pyyaml(file: string): unknown[] | undefined {
  const r = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))',
    path.join(DIR, file)], { encoding: 'utf8' });
  return r.status === 0 ? JSON.parse(r.stdout) : undefined;
}

const byKind = (docs: any[], kind: string): any => {
  const found = docs.filter((d) => d.kind === kind);
  assert.is(found.length, 1, `one ${kind}`);
  return found[0];
};

const install = parseDocs('tsbridge.yaml');
const uninstall = parseDocs('tsbridge-uninstall.yaml');

test('both files parse; a real YAML parser reads the same documents', () => {
  assert.equal(install.map((d) => d.kind), ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'DaemonSet']);
  assert.equal(uninstall.map((d) => d.kind), ['DaemonSet']);
  for (const [file, docs] of [['tsbridge.yaml', install], ['tsbridge-uninstall.yaml', uninstall]] as const) {
    const y = pyyaml(file);
    if (y) assert.equal(y, docs, file);
  }
});

test('RBAC: get/list/watch on nodes only, bound to the DaemonSet service account', () => {
  const ns = byKind(install, 'Namespace').metadata.name;
  const sa = byKind(install, 'ServiceAccount');
  const role = byKind(install, 'ClusterRole');
  const binding = byKind(install, 'ClusterRoleBinding');
  assert.is(sa.metadata.namespace, ns);
  assert.equal(role.rules, [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
  assert.equal(binding.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
  assert.equal(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: ns }]);
  const ds = byKind(install, 'DaemonSet');
  assert.is(ds.metadata.namespace, ns);
  assert.is(ds.spec.template.spec.serviceAccountName, sa.metadata.name);
});

function checkDaemonSet(ds: any, mounts: Record<string, string | undefined>): any {
  const pod = ds.spec.template.spec;
  assert.equal(ds.spec.selector.matchLabels, Object.fromEntries(Object.entries(ds.spec.template.metadata.labels).filter(([k]) => k in ds.spec.selector.matchLabels)));
  assert.is(ds.spec.updateStrategy.type, 'RollingUpdate');
  assert.is(pod.hostNetwork, true);
  // every node, whatever its taints (NoSchedule, NoExecute, not-ready): an operator-Exists toleration with no key
  assert.ok(pod.tolerations.some((t: any) => t.operator === 'Exists' && t.key === undefined && t.effect === undefined));
  assert.is(pod.containers.length, 1);
  const c = pod.containers[0];
  assert.equal(c.securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
  assert.is(c.securityContext.privileged, false);
  assert.is(c.securityContext.allowPrivilegeEscalation, false);
  assert.is(c.securityContext.readOnlyRootFilesystem, true);
  // hostPath volumes, each mounted at the same path inside
  const vols = new Map<string, any>(pod.volumes.map((v: any) => [v.name, v]));
  const mounted = new Map<string, string>(c.volumeMounts.map((m: any) => [m.mountPath, m.name]));
  for (const [p, type] of Object.entries(mounts)) {
    const v = vols.get(mounted.get(p) ?? '');
    assert.ok(v, `${p} mounted`);
    if (type) assert.equal(v.hostPath, { path: p, type }, p);
    else assert.ok(v.emptyDir, `${p} is an emptyDir`);
  }
  assert.is(c.volumeMounts.length, Object.keys(mounts).length, 'no other mounts');
  // the binary drops NODE_* variables at start: none may carry configuration
  assert.not.ok((c.env ?? []).some((e: any) => e.name.startsWith('NODE_')));
  assert.is(c.command[0], '/usr/local/bin/tsbridge');
  return c;
}

test('DaemonSet: hostNetwork, NET_ADMIN only, every node, rolling updates, CNI dirs and the xtables lock from the host', () => {
  const c = checkDaemonSet(byKind(install, 'DaemonSet'), {
    '/opt/cni/bin': 'DirectoryOrCreate', '/etc/cni/net.d': 'DirectoryOrCreate', '/var/lib/cni': 'DirectoryOrCreate',
    '/run/xtables.lock': 'FileOrCreate', '/run': undefined,
  });
  assert.equal(c.env.find((e: any) => e.name === 'TSBRIDGE_NODE_NAME').valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
  assert.is(c.command[1], 'install');
  // the command line and the TSBRIDGE_* environment are accepted by the binary's own flag parser
  const env = Object.fromEntries(c.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
  const flags = parseFlags(c.command.slice(2), INSTALL, { ...env, TSBRIDGE_NODE_NAME: 'node-x' });
  assert.equal({ watch: flags.watch, routes: flags.routes, node: flags['node-name'], masq: flags['ip-masq'] },
    { watch: true, routes: true, node: 'node-x', masq: false });
});

test('clean-up DaemonSet: same image, uninstall --routes --stay, bin and conf dirs only', () => {
  const ds = byKind(uninstall, 'DaemonSet');
  const c = checkDaemonSet(ds, { '/opt/cni/bin': 'DirectoryOrCreate', '/etc/cni/net.d': 'DirectoryOrCreate', '/run': undefined });
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
  assert.match(fs.readFileSync(path.join(DIR, 'build-image.sh'), 'utf8'), /"\$ctx\/usr\/local\/bin\/tsbridge"/);
});

test.run();
