/**
 * Stack frames without a source file get a disassembly listing (a DAP source with a sourceReference), so that
 * VS Code focuses them after any stop; the listing's gutter takes breakpoints.
 */
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CustomRequestResult } from '../../adapter/session/protocol';
import {
  HELLO,
  HPET_PROBE,
  child,
  eip,
  failure,
  launchStopped,
  resumeUntilStopped,
  scope,
  startClient,
  tempFile,
  topFrame,
} from './support';

/** The image alone in a temporary folder: its DWARF names source files that are not there. */
function probeWithoutSources(): string {
  const path = tempFile('hpet-probe.elf', '');
  copyFileSync(HPET_PROBE, path);
  return path;
}

/** The text of a frame's listing, from the adapter's `source` request. */
async function listingOf(dc: DebugClient, source: DebugProtocol.Source | undefined): Promise<string> {
  const response = (await dc.customRequest('source', {
    source,
    sourceReference: source?.sourceReference,
  })) as DebugProtocol.SourceResponse;
  return response.body.content;
}

function lineText(content: string, line: number): string {
  return content.split('\n')[line - 1] ?? '';
}

function hex8(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

void describe('disassembly listings for frames without source', () => {
  void it('lists the function around an MMIO watchpoint stop, with the stopped instruction on the frame line', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: probeWithoutSources() });
      const hpet = await child(dc, await scope(dc, 'Devices'), 'hpet');
      const info = await dc.dataBreakpointInfoRequest({ variablesReference: hpet.variablesReference, name: 'GCAP_ID' });
      await dc.setDataBreakpointsRequest({ breakpoints: [{ dataId: info.body.dataId ?? '', accessType: 'read' }] });
      await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
      const frame = await topFrame(dc);
      const reference = frame.source?.sourceReference ?? 0;
      assert.ok(reference > 0, `top frame source: ${JSON.stringify(frame.source)}`);
      const functionName = frame.name.replace(/\+0x[0-9a-f]+$/, '');
      assert.equal(frame.source?.name, `${functionName}.dis`);
      // A display path only: the content comes from the adapter.
      assert.equal(frame.source?.path, `/${functionName}.dis`);
      const response = (await dc.customRequest('source', {
        source: frame.source,
        sourceReference: reference,
      })) as DebugProtocol.SourceResponse;
      assert.equal(response.body.mimeType, 'text/x-mmiodbg-disassembly');
      const content = response.body.content;
      const stoppedLine = lineText(content, frame.line);
      assert.ok(stoppedLine.includes(hex8(await eip(dc))), `line ${frame.line}: ${stoppedLine}`);
      assert.match(stoppedLine, /\bmov\s+\w+, (dword ptr )?\[/);
      // The whole function: its label, then its first instruction at the symbol's address.
      const lines = content.split('\n');
      const label = lines.indexOf(`${functionName}:`);
      assert.ok(label > 0, content.slice(0, 400));
      // hpet-probe.c is not beside the copied image, but its line information names it.
      assert.match(lines[label + 1], /^ {4}; hpet-probe\.c:\d+$/);
      assert.match(lines[label + 2], /^\s+0x[0-9a-f]{8}\s+[0-9a-f]{2}/);
      assert.match(lines[0], new RegExp(`^; ${functionName}: 0x[0-9a-f]{8}-0x[0-9a-f]{8}, 32-bit code`));

      // Every frame of the call stack has a listing or a source of its own.
      const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
      for (const f of frames) assert.ok((f.source?.sourceReference ?? 0) > 0, `frame ${f.name} has no listing`);

      // A second stop in the same function reuses its listing: VS Code keeps one editor for it.
      await dc.setDataBreakpointsRequest({ breakpoints: [] });
      const next = await resumeUntilStopped(dc, dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
      assert.equal(next.body.reason, 'step');
      const stepped = await topFrame(dc);
      assert.ok(stepped.name.startsWith(functionName), stepped.name);
      assert.equal(stepped.source?.sourceReference, reference);
      assert.ok(stepped.line > frame.line);
    } finally {
      await dc.stop();
    }
  });

  void it('stops at a breakpoint set on a listing line, and refuses a stale listing', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: probeWithoutSources() });
      const frame = await topFrame(dc);
      const reference = frame.source?.sourceReference ?? 0;
      assert.ok(reference > 0);
      const content = await listingOf(dc, frame.source);
      // The entry point is an assembler label without a size: a window listing that starts at the label, not
      // in the multiboot header before it.
      const lines = content.split('\n');
      assert.equal(lines[1], '_start:');
      assert.equal(frame.line, 3);
      // A few instructions below the entry point, on a label-free instruction line.
      let target = frame.line + 3;
      while (!/^\s+0x[0-9a-f]{8}\s/.test(lines[target - 1])) target++;
      const address = Number(/0x[0-9a-f]{8}/.exec(lines[target - 1])?.[0]);
      const set = await dc.setBreakpointsRequest({
        source: { name: frame.source?.name, sourceReference: reference },
        breakpoints: [{ line: target }, { line: lines.length + 10 }],
      });
      const [bp, beyond] = set.body.breakpoints;
      assert.equal(bp.verified, true);
      assert.equal(bp.line, target);
      assert.equal(bp.instructionReference, hex8(address));
      assert.equal(beyond.verified, false);
      assert.match(beyond.message ?? '', /no instruction at or after line/);
      const stopped = await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
      assert.deepEqual(stopped.body.hitBreakpointIds, [bp.id]);
      assert.equal(await eip(dc), address);
      assert.equal((await topFrame(dc)).line, target);

      const stale = await failure(
        dc.customRequest('source', { source: { sourceReference: 999_999 }, sourceReference: 999_999 }),
      );
      assert.match(stale, /source reference 999999 is unknown/);
      const staleBreakpoint = await dc.setBreakpointsRequest({
        source: { name: 'gone.dis', sourceReference: 999_999 },
        breakpoints: [{ line: 3 }],
      });
      assert.equal(staleBreakpoint.body.breakpoints[0].verified, false);
      assert.match(staleBreakpoint.body.breakpoints[0].message ?? '', /earlier run of the guest/);
    } finally {
      await dc.stop();
    }
  });

  void it('serves the listing of any address for the MMIO trace (mmiodbg/listing)', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: probeWithoutSources() });
      const frame = await topFrame(dc);
      // The call of guest_start from _start: another function than the stopped one.
      const entry = await listingOf(dc, frame.source);
      const target = Number(/call\s+(0x[0-9a-f]{8})\s+; guest_start/.exec(entry)?.[1]);
      assert.ok(target > 0, entry);
      const listed = (
        await dc.customRequest('mmiodbg/listing', {
          address: target,
        })
      ).body as CustomRequestResult<'mmiodbg/listing'>;
      assert.equal(listed.source.name, 'guest_start.dis');
      assert.notEqual(listed.source.sourceReference, frame.source?.sourceReference);
      const content = await listingOf(dc, listed.source);
      assert.match(lineText(content, listed.line), new RegExp(`^\\s+${hex8(target)}\\s`));
      assert.equal(lineText(content, listed.line - 2), 'guest_start:');
      assert.match(lineText(content, listed.line - 1), /^ {4}; hpet-probe\.c:\d+$/);
      // Asked again, the same listing.
      const again = (
        await dc.customRequest('mmiodbg/listing', {
          address: target,
        })
      ).body as CustomRequestResult<'mmiodbg/listing'>;
      assert.deepEqual(again, listed);
      assert.match(
        await failure(dc.customRequest('mmiodbg/listing', { address: -1 })),
        /outside the 32-bit address space/,
      );
    } finally {
      await dc.stop();
    }
  });

  void it('steps one instruction per listing line where the image has line information but no source file', async () => {
    const path = tempFile('hello.elf', '');
    copyFileSync(HELLO, path);
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: path }, () =>
        dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'puts' }] }),
      );
      await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
      const before = await topFrame(dc);
      assert.equal(before.name, 'puts');
      assert.ok((before.source?.sourceReference ?? 0) > 0);
      const content = (await listingOf(dc, before.source)).split('\n');
      // The image's line information annotates the listing even though its files are missing.
      assert.ok(
        content.some((l) => /^ {4}; \w+\.c:\d+$/.test(l)),
        content.slice(0, 12).join('\n'),
      );
      await resumeUntilStopped(dc, dc.nextRequest({ threadId: 1 }));
      const after = await topFrame(dc);
      assert.equal(after.source?.sourceReference, before.source?.sourceReference);
      let next = before.line + 1;
      while (!/^\s+0x[0-9a-f]{8}\s/.test(content[next - 1])) next++;
      assert.equal(after.line, next);
    } finally {
      await dc.stop();
    }
  });

  void it('lists a window of instructions around an address no symbol covers', async () => {
    // nop; nop; mov eax, 1; inc eax; jmp $-3 (a flat binary: no symbols at all).
    const program = tempFile('spin.bin', new Uint8Array([0x90, 0x90, 0xb8, 1, 0, 0, 0, 0x40, 0xeb, 0xfd]));
    const dc = await startClient();
    try {
      await launchStopped(dc, { program, format: 'bin' });
      await resumeUntilStopped(dc, dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
      await resumeUntilStopped(dc, dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
      const frame = await topFrame(dc);
      const at = await eip(dc);
      const reference = frame.source?.sourceReference ?? 0;
      assert.ok(reference > 0);
      const content = await listingOf(dc, frame.source);
      assert.match(lineText(content, frame.line), new RegExp(`${hex8(at)}\\s+b8 01 00 00 00\\s+mov\\s+eax, 1`));
      // The two NOPs before it are listed too: the window reaches back to instruction boundaries.
      assert.match(lineText(content, frame.line - 1), new RegExp(`${hex8(at - 1)}\\s+90\\s+nop`));
      assert.match(lineText(content, frame.line + 1), /\binc\s+eax/);
    } finally {
      await dc.stop();
    }
  });
});
