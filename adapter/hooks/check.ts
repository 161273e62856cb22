import { readFileSync } from 'node:fs';
import type { DeviceDescription } from '../core/regs/describe';
import { checkSource } from './checker';
import type { Diagnostic } from './diagnostics';
import { formatDiagnostic, hasErrors } from './diagnostics';

export interface FileDiagnostic extends Diagnostic {
  readonly file: string;
}

export interface CheckFilesResult {
  /** True when no file has errors (warnings allowed). */
  readonly ok: boolean;
  readonly diagnostics: readonly FileDiagnostic[];
  /** One `file:line:col: severity: message` line per diagnostic, or `ok`. */
  readonly output: string;
}

/** `mmiodbg check FILE...`: checks each hook file against the given devices (and those it declares). */
export function checkFiles(paths: readonly string[], devices: readonly DeviceDescription[] = []): CheckFilesResult {
  const diagnostics: FileDiagnostic[] = [];
  for (const path of paths) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      const origin = { line: 1, column: 1, offset: 0 };
      const message = `cannot read file: ${e instanceof Error ? e.message : String(e)}`;
      diagnostics.push({ file: path, severity: 'error', message, range: { start: origin, end: origin } });
      continue;
    }
    for (const d of checkSource(text, devices).diagnostics) diagnostics.push({ ...d, file: path });
  }
  const ok = !hasErrors(diagnostics);
  const lines = diagnostics.map((d) => formatDiagnostic(d.file, d));
  if (ok) lines.push('ok');
  return { ok, diagnostics, output: lines.join('\n') };
}
