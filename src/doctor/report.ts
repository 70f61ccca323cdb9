// Pure: the report for people (a table per attachment, the first broken piece, every finding with
// its fix) and the summary that decides the exit code. Every line is escaped (safe-text).
import { escapeControls } from '../safe-text';
import { AttachmentReport, DoctorReport, Finding } from './types';

const STATUS: Record<string, string> = { ok: 'ok', fail: 'FAIL', warn: 'warn', skip: '-' };

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function findingLines(f: Finding, indent: string): string[] {
  const out = [`${indent}[${f.severity}] ${f.hop}: ${f.message}`];
  if (f.fix)
    out.push(
      `${indent}    fix: ` +
        `${f.fix}${f.fixable && !f.fix.includes('--fix') ? '   (tsbridge doctor --fix does this)' : ''}`,
    );
  return out;
}

export function attachmentTitle(a: { containerId: string; ifname: string }): string {
  return `${a.containerId || '(no IPAM record)'}/${a.ifname}`;
}

function attachmentText(a: AttachmentReport): string[] {
  const lines: string[] = [];
  lines.push(`${attachmentTitle(a)}  ${a.ips.join(', ') || '-'}  netns ${a.netns ?? '?'}  host veth ${a.hostVeth}`);
  lines.push(`  ${pad('HOP', 12)} ${pad('STATUS', 6)} DETAIL`);
  for (const h of a.hops) lines.push(`  ${pad(h.hop, 12)} ${pad(STATUS[h.status], 6)} ${h.detail}`);
  if (a.firstBroken) lines.push(`  first broken: ${a.firstBroken.hop} (${a.firstBroken.piece})`);
  for (const f of a.findings) lines.push(...findingLines(f, '  '));
  for (const p of a.probes ?? []) {
    const path = p.hops.map((h) => `${h.name} ${h.delta >= 0 ? '+' : ''}${h.delta}`).join(', ');
    lines.push(
      `  probe ${p.kind} ${p.target}: ${p.received}/${p.sent} replies${p.ok ? '' : ' FAILED'}; last seen: ` +
        `${p.lastSeen ?? 'nowhere'}${p.note ? ` (${p.note})` : ''}`,
    );
    if (path) lines.push(`      counters: ${path}`);
  }
  return lines;
}

export function renderText(r: DoctorReport): string {
  const lines: string[] = [`tsbridge doctor: network ${r.network}, bridge ${r.bridge} (${r.config})`, ''];
  if (r.changes?.length) {
    lines.push('changes made (--fix):');
    for (const c of r.changes) lines.push(`  ${c.ok ? 'done' : 'FAILED'}: ${c.what}${c.error ? `: ${c.error}` : ''}`);
    lines.push('');
  } else if (r.changes) {
    lines.push("changes made (--fix): none (nothing of tsbridge's needed repair)", '');
  }
  for (const a of r.attachments) lines.push(...attachmentText(a), '');
  for (const n of r.notes) lines.push(`note: ${n}`);
  const bad = r.attachments.filter((a) => !a.healthy).length;
  const warnings = r.findings.filter((f) => f.severity === 'warning').length;
  if (r.healthy) {
    lines.push(
      `healthy: ${r.attachments.length} attachment(s) checked, no ` +
        `problem${warnings ? ` (${warnings} warning(s))` : ''}`,
    );
  } else if (r.firstBroken) {
    const fb = r.firstBroken;
    lines.push(`UNHEALTHY: ${bad} of ${r.attachments.length} attachment(s) have problems`);
    lines.push(`first broken: ${attachmentTitle(fb)} ${fb.hop}: ${fb.message}`);
    if (fb.fix) lines.push(`fix: ${fb.fix}`);
  } else {
    lines.push('UNHEALTHY: see the notes above');
  }
  // names, IDs and messages come from pods and files: nothing unprintable reaches the terminal raw
  return lines.map(escapeControls).join('\n') + '\n';
}

/** Findings of every attachment, each once (node-wide pieces repeat in each walk). */
export function uniqueFindings(as: AttachmentReport[]): Finding[] {
  const seen = new Set<string>();
  const out: Finding[] = [];
  for (const a of as) {
    for (const f of a.findings) {
      const k = `${f.piece}\n${f.message}`;
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(f);
    }
  }
  return out;
}

/** Exit status: 0 only when healthy. */
export const exitCode = (r: DoctorReport): number => (r.healthy ? 0 : 1);
