// CNI spec versions this plugin speaks, and the feature gates tied to them.
import { CniError, ErrCode } from './errors';

// 0.1.0 and 0.2.0 as the reference 1.1.1 (its VERSION lists them); their results are the `ip4`/`ip6` format.
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
/** libcni: a config without cniVersion is 0.1.0 (create.DecodeVersion). */
export const IMPLICIT_VERSION = '0.1.0';
export const LATEST_VERSION = '1.1.0';

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The config's version must be one we support exactly (as the reference's version.Reconcile). */
export function requireSupported(version: string): void {
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(
      ErrCode.IncompatibleVersion,
      `incompatible CNI versions: config is "${version}", plugin supports ` +
        `[${SUPPORTED_VERSIONS.map((v) => `"${v}"`).join(' ')}]`,
    );
  }
}

export const hasCheck = (v: string): boolean => compareVersions(v, '0.4.0') >= 0;
export const hasGcAndStatus = (v: string): boolean => compareVersions(v, '1.1.0') >= 0;
/** 0.3.x and 0.4.0 results carry `"version": "4"|"6"` on each IP; 1.0.0 dropped it. */
export const ipsHaveVersion = (v: string): boolean => compareVersions(v, '1.0.0') < 0;
/** 0.1.0 and 0.2.0 results have one `ip4` and one `ip6` object instead of lists. */
export const isLegacyResult = (v: string): boolean => compareVersions(v, '0.3.0') < 0;
