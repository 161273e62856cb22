/** Helpers for the DAP tests: a DebugClient against the bundled adapter (dist/adapter.js, built by scripts/build.mjs). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { LaunchArguments } from '../../adapter/session/protocol';
import { REPOSITORY_ROOT, guestElfPath } from '../support/qemu';

export { REPOSITORY_ROOT, guestElfPath };
export const ADAPTER = join(REPOSITORY_ROOT, 'dist', 'adapter.js');
export const HELLO = guestElfPath('hello');
export const HPET_PROBE = guestElfPath('hpet-probe');
export const HELLO_C = join(REPOSITORY_ROOT, 'guests', 'hello', 'hello.c');
export const SEED_HOOK = join(REPOSITORY_ROOT, 'examples', 'hooks', 'hpet-one-comparator-fewer.mmh');

export async function startClient(): Promise<DebugClient> {
  const dc = new DebugClient('node', ADAPTER, 'mmiodbg');
  dc.defaultTimeout = 30_000;
  await dc.start();
  return dc;
}

/** Everything the adapter printed, by output category. */
export function collectOutput(dc: DebugClient): { text(category?: string): string } {
  const chunks: { category: string; output: string }[] = [];
  dc.on('output', (e: DebugProtocol.OutputEvent) => {
    chunks.push({ category: e.body.category ?? 'console', output: e.body.output });
  });
  return {
    text: (category) =>
      chunks
        .filter((c) => category === undefined || c.category === category)
        .map((c) => c.output)
        .join(''),
  };
}

/** Launches with stopOnEntry and waits for the entry stop. */
export async function launchStopped(
  dc: DebugClient,
  args: Partial<LaunchArguments> & { program: string },
  configure?: () => Promise<unknown>,
): Promise<DebugProtocol.StoppedEvent> {
  const [, , stopped] = await Promise.all([
    dc.waitForEvent('initialized').then(async () => {
      await configure?.();
      return dc.configurationDoneRequest();
    }),
    dc.launch({ stopOnEntry: true, ...args }),
    dc.waitForEvent('stopped'),
  ]);
  return stopped as DebugProtocol.StoppedEvent;
}

/** Sends a request that resumes the guest and waits for the next stop. */
export async function resumeUntilStopped(
  dc: DebugClient,
  request: Promise<unknown>,
): Promise<DebugProtocol.StoppedEvent> {
  const [, stopped] = await Promise.all([request, dc.waitForEvent('stopped')]);
  return stopped as DebugProtocol.StoppedEvent;
}

export async function topFrame(dc: DebugClient): Promise<DebugProtocol.StackFrame> {
  const r = await dc.stackTraceRequest({ threadId: 1 });
  return r.body.stackFrames[0];
}

export async function eip(dc: DebugClient): Promise<number> {
  return Number((await topFrame(dc)).instructionPointerReference);
}

/** A file in a fresh temporary folder. */
export function tempFile(name: string, content: string | Uint8Array): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmiodbg-dap-'));
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** Expects a request to fail; returns the error message. */
export async function failure(request: Promise<unknown>): Promise<string> {
  try {
    await request;
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('the request succeeded but was expected to fail');
}

export async function variables(dc: DebugClient, reference: number): Promise<DebugProtocol.Variable[]> {
  return (await dc.variablesRequest({ variablesReference: reference })).body.variables;
}

export async function scope(dc: DebugClient, name: string): Promise<number> {
  const frame = await topFrame(dc);
  const scopes = (await dc.scopesRequest({ frameId: frame.id })).body.scopes;
  const found = scopes.find((s) => s.name === name);
  if (!found) throw new Error(`no scope ${name}`);
  return found.variablesReference;
}

export async function child(dc: DebugClient, reference: number, name: string): Promise<DebugProtocol.Variable> {
  const found = (await variables(dc, reference)).find((v) => v.name === name);
  if (!found) throw new Error(`no variable ${name}`);
  return found;
}
