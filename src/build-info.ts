// The build's identity and notices, set by the bundler (build/build-info.mjs defines TSBRIDGE_BUILD).
// Unbundled (the tests run the compiled JS) it falls back to package.json's version.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SUPPORTED_VERSIONS } from './cni/version';

export interface LicenseEntry {
  name: string;
  version: string;
  license: string;
  text: string;
}
export interface BuildInfo {
  version: string;
  commit: string;
  date: string;
  licenses: LicenseEntry[];
}

declare const TSBRIDGE_BUILD: BuildInfo | undefined;

function unbundled(): BuildInfo {
  // build/js/src/build-info.js -> the repository's package.json
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return { version: pkg.version, commit: 'unknown', date: 'unknown', licenses: [] };
}

export const BUILD: BuildInfo = typeof TSBRIDGE_BUILD !== 'undefined' ? TSBRIDGE_BUILD : unbundled();

/** The runtime executing us: the single executable embeds one (Node.js today). */
export function runtimeName(): string {
  const bun = (process.versions as Record<string, string | undefined>).bun;
  return bun ? `bun ${bun}` : `node ${process.version}`;
}

/** `tsbridge version --json`. */
export function versionInfo(): Record<string, unknown> {
  return {
    version: BUILD.version,
    commit: BUILD.commit,
    buildDate: BUILD.date,
    runtime: runtimeName(),
    cniVersions: [...SUPPORTED_VERSIONS],
  };
}

/** What the reference plugins print when run bare (skel's "about" text), on stderr. */
export function aboutText(): string {
  return `CNI tsbridge plugin v${BUILD.version}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`;
}
