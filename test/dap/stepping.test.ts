import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { HELLO, HELLO_C, eip, launchStopped, resumeUntilStopped, startClient, tempFile, topFrame } from './support';

const GUEST_START = 0x00101680;
const SERIAL_INIT = 0x00100bb0;

/** Runs hello to its first CALL in guest_start and returns that instruction's address and length. */
async function stopAtFirstCall(dc: DebugClient): Promise<{ address: number; length: number }> {
  await launchStopped(dc, { program: HELLO });
  const dis = await dc.disassembleRequest({ memoryReference: '0x00101680', instructionCount: 20 });
  const call = dis.body?.instructions.find((i) => i.instruction.startsWith('call'));
  assert.ok(call, 'guest_start calls a function');
  assert.match(call.instruction, /serial_init/);
  const address = Number(call.address);
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [{ instructionReference: call.address }] });
  await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
  assert.equal(await eip(dc), address);
  await dc.customRequest('setInstructionBreakpoints', { breakpoints: [] });
  return { address, length: (call.instructionBytes ?? '').split(' ').length };
}

async function step(dc: DebugClient, request: Promise<unknown>): Promise<DebugProtocol.StoppedEvent> {
  const stopped = await resumeUntilStopped(dc, request);
  assert.equal(stopped.body.reason, 'step');
  return stopped;
}

void describe('instruction stepping', () => {
  void it('stepIn executes one instruction and enters a call', async () => {
    const dc = await startClient();
    try {
      const call = await stopAtFirstCall(dc);
      assert.ok(call.address > GUEST_START);
      await step(dc, dc.stepInRequest({ threadId: 1, granularity: 'instruction' }));
      assert.equal(await eip(dc), SERIAL_INIT);
      assert.equal((await topFrame(dc)).name, 'serial_init');
      await step(dc, dc.stepOutRequest({ threadId: 1, granularity: 'instruction' }));
      assert.equal(await eip(dc), call.address + call.length);
    } finally {
      await dc.stop();
    }
  });

  void it('next runs over a CALL to the following instruction', async () => {
    const dc = await startClient();
    try {
      const call = await stopAtFirstCall(dc);
      await step(dc, dc.nextRequest({ threadId: 1, granularity: 'instruction' }));
      assert.equal(await eip(dc), call.address + call.length);
    } finally {
      await dc.stop();
    }
  });
});

void describe('source-line stepping', () => {
  void it('next goes to the next line of hello.c, stepIn enters a function with line info', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: HELLO }, () =>
        dc.setBreakpointsRequest({ source: { path: HELLO_C }, breakpoints: [{ line: 32 }] }),
      );
      await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
      assert.equal((await topFrame(dc)).line, 32);
      await dc.setBreakpointsRequest({ source: { path: HELLO_C }, breakpoints: [] });
      await step(dc, dc.stepInRequest({ threadId: 1 }));
      const inner = await topFrame(dc);
      assert.equal(inner.name, 'serial_init');
      assert.match(inner.source?.path ?? '', /runtime\.[ch]$/);
      await step(dc, dc.stepOutRequest({ threadId: 1 }));
      const back = await topFrame(dc);
      assert.match(back.name, /^guest_start/);
      await step(dc, dc.nextRequest({ threadId: 1 }));
      const next = await topFrame(dc);
      assert.equal(next.source?.path, HELLO_C);
      assert.ok(next.line > 32, `line ${next.line}`);
      const line = next.line;
      await step(dc, dc.nextRequest({ threadId: 1 }));
      const after = await topFrame(dc);
      assert.match(after.name, /^guest_start/);
      assert.notEqual(after.line, line);
    } finally {
      await dc.stop();
    }
  });
});

void describe('pause', () => {
  void it('pauses a guest spinning in `jmp $`', async () => {
    const dc = await startClient();
    try {
      const spin = tempFile('spin.bin', new Uint8Array([0x90, 0xeb, 0xfe]));
      await Promise.all([dc.configurationSequence(), dc.launch({ program: spin, format: 'bin' })]);
      await new Promise((r) => setTimeout(r, 200));
      const started = performance.now();
      const stopped = await resumeUntilStopped(dc, dc.pauseRequest({ threadId: 1 }));
      assert.ok(performance.now() - started < 1000);
      assert.equal(stopped.body.reason, 'pause');
      assert.equal(await eip(dc), 0x00100001);
      await step(dc, dc.stepInRequest({ threadId: 1 }));
      assert.equal(await eip(dc), 0x00100001);
      const again = await resumeUntilStopped(
        dc,
        dc.continueRequest({ threadId: 1 }).then(() => dc.pauseRequest({ threadId: 1 })),
      );
      assert.equal(again.body.reason, 'pause');
    } finally {
      await dc.stop();
    }
  });
});
