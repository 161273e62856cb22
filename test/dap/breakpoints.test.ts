import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DebugProtocol } from '@vscode/debugprotocol';
import {
  HELLO,
  HELLO_C,
  HPET_PROBE,
  child,
  eip,
  guestElfPath,
  launchStopped,
  resumeUntilStopped,
  scope,
  startClient,
  tempFile,
  topFrame,
  collectOutput,
} from './support';

/** lidt [0x00100009] with a zero limit, then ud2: #UD cannot be delivered, nor #GP, nor #DF: a triple fault. */
const TRIPLE_FAULT = new Uint8Array([0x0f, 0x01, 0x1d, 0x09, 0x00, 0x10, 0x00, 0x0f, 0x0b, 0, 0, 0, 0, 0, 0]);

/** Addresses from `nm` and `readelf --debug-dump=decodedline` of the committed guest images. */
const PUTS = 0x00100e60;
const SERIAL_INIT = 0x00100bb0;
const HELLO_LINE_34 = 0x0010169b;

void describe('code breakpoints', () => {
  void it('stops at an instruction breakpoint with its id', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: HELLO });
      const set = (await dc.customRequest('setInstructionBreakpoints', {
        breakpoints: [{ instructionReference: '0x00100ba0', offset: 0x10 }],
      })) as DebugProtocol.SetInstructionBreakpointsResponse;
      const bp = set.body.breakpoints[0];
      assert.equal(bp.verified, true);
      const stopped = await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
      assert.equal(stopped.body.reason, 'instruction breakpoint');
      assert.deepEqual(stopped.body.hitBreakpointIds, [bp.id]);
      assert.equal(await eip(dc), SERIAL_INIT);
      assert.equal((await topFrame(dc)).name, 'serial_init');
    } finally {
      await dc.stop();
    }
  });

  void it('stops at a function breakpoint on an ELF symbol and again on the next call', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: HELLO });
      const set = await dc.setFunctionBreakpointsRequest({
        breakpoints: [{ name: 'puts' }, { name: 'no_such_function' }],
      });
      assert.equal(set.body.breakpoints[0].verified, true);
      assert.equal(set.body.breakpoints[1].verified, false);
      assert.match(set.body.breakpoints[1].message ?? '', /no symbol "no_such_function"/);
      for (let i = 0; i < 2; i++) {
        const stopped = await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
        assert.equal(stopped.body.reason, 'function breakpoint');
        assert.deepEqual(stopped.body.hitBreakpointIds, [set.body.breakpoints[0].id]);
        assert.equal(await eip(dc), PUTS);
      }
      const frames = (await dc.stackTraceRequest({ threadId: 1 })).body.stackFrames;
      assert.equal(frames[0].name, 'puts');
    } finally {
      await dc.stop();
    }
  });

  void it('stops at a source breakpoint resolved through DWARF line information', async () => {
    const dc = await startClient();
    try {
      let verified: DebugProtocol.Breakpoint | undefined;
      await launchStopped(dc, { program: HELLO }, async () => {
        const r = await dc.setBreakpointsRequest({
          source: { path: HELLO_C },
          breakpoints: [{ line: 34 }, { line: 2 }],
        });
        verified = r.body.breakpoints[0];
        assert.equal(r.body.breakpoints[1].verified, true, 'line 2 (a comment) moves to the next line with code');
        assert.ok((r.body.breakpoints[1].line ?? 0) > 2);
      });
      assert.equal(verified?.verified, true);
      assert.equal(verified?.line, 34);
      const again = await dc.setBreakpointsRequest({ source: { path: HELLO_C }, breakpoints: [{ line: 34 }] });
      const stopped = await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
      assert.equal(stopped.body.reason, 'breakpoint');
      assert.deepEqual(stopped.body.hitBreakpointIds, [again.body.breakpoints[0].id]);
      assert.equal(await eip(dc), HELLO_LINE_34);
      const frame = await topFrame(dc);
      assert.equal(frame.source?.path, HELLO_C);
      assert.equal(frame.line, 34);
    } finally {
      await dc.stop();
    }
  });

  void it('leaves source breakpoints unverified with a reason when the file has no line information', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: HELLO });
      const r = await dc.setBreakpointsRequest({ source: { path: '/elsewhere/other.c' }, breakpoints: [{ line: 3 }] });
      assert.equal(r.body.breakpoints[0].verified, false);
      assert.match(r.body.breakpoints[0].message ?? '', /other\.c is not part of the guest image's line information/);
    } finally {
      await dc.stop();
    }
  });
});

void describe('MMIO watchpoints', () => {
  void it('stops on the guest read of hpet.GCAP_ID set as a data breakpoint from the Devices scope', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: HPET_PROBE });
      const devices = await scope(dc, 'Devices');
      const hpet = await child(dc, devices, 'hpet');
      const info = await dc.dataBreakpointInfoRequest({ variablesReference: hpet.variablesReference, name: 'GCAP_ID' });
      assert.equal(info.body.dataId, 'reg:hpet.GCAP_ID');
      assert.deepEqual(info.body.accessTypes, ['read', 'write', 'readWrite']);
      const set = await dc.setDataBreakpointsRequest({
        breakpoints: [{ dataId: info.body.dataId ?? '', accessType: 'read' }],
      });
      assert.equal(set.body.breakpoints[0].verified, true);
      const stopped = await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
      assert.equal(stopped.body.reason, 'data breakpoint');
      assert.deepEqual(stopped.body.hitBreakpointIds, [set.body.breakpoints[0].id]);
      const m = /^read hpet\.GCAP_ID, 4 bytes = 0x([0-9a-f]{8}) at eip 0x([0-9a-f]{8})$/.exec(
        stopped.body.description ?? '',
      );
      assert.ok(m, `description: ${stopped.body.description}`);
      const accessEip = parseInt(m[2], 16);
      // The guest stops on the accessing instruction, a load from the HPET block, before the access.
      const dis = await dc.disassembleRequest({ memoryReference: m[2].replace(/^/, '0x'), instructionCount: 1 });
      const instruction = dis.body?.instructions[0];
      assert.match(instruction?.instruction ?? '', /^mov\s+\w+, (dword ptr )?\[/);
      assert.equal(await eip(dc), accessEip);
      // The ich preset: vendor 8086, legacy route capable, 32-bit counter, NUM_TIM_CAP = 3 (4 timers), REV_ID 1.
      assert.equal(m[1], '80868301');
    } finally {
      await dc.stop();
    }
  });

  void it('stops on port writes set as a function breakpoint `write port 0x3f8`', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: HELLO });
      const set = await dc.setFunctionBreakpointsRequest({
        breakpoints: [{ name: 'write port 0x3f8', condition: 'value == 0x48' }],
      });
      assert.equal(set.body.breakpoints[0].verified, true);
      const stopped = await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
      assert.equal(stopped.body.reason, 'data breakpoint');
      assert.match(stopped.body.description ?? '', /^write com1\.(THR|RBR), 1 byte = 0x48 at eip 0x[0-9a-f]{8}$/);
      const bad = await dc.setFunctionBreakpointsRequest({ breakpoints: [{ name: 'read hpet.NOPE' }] });
      assert.equal(bad.body.breakpoints[0].verified, false);
      assert.match(bad.body.breakpoints[0].message ?? '', /no register 'NOPE'/);
    } finally {
      await dc.stop();
    }
  });

  void it('stops before delivering a CPU exception selected by filter', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: guestElfPath('cpu-selftest') }, () =>
        dc.setExceptionBreakpointsRequest({ filters: ['#UD'] }),
      );
      const stopped = await resumeUntilStopped(dc, dc.continueRequest({ threadId: 1 }));
      assert.equal(stopped.body.reason, 'exception');
      assert.match(stopped.body.description ?? '', /#UD invalid opcode/);
      const dis = await dc.disassembleRequest({
        memoryReference: `0x${(await eip(dc)).toString(16)}`,
        instructionCount: 1,
      });
      assert.match(dis.body?.instructions[0].instruction ?? '', /^ud2/);
      const info = await dc.exceptionInfoRequest({ threadId: 1 });
      assert.equal(info.body.exceptionId, '#UD');
    } finally {
      await dc.stop();
    }
  });

  void it('ends the session on a triple fault with the reason, or stops there with the triple fault filter', async () => {
    const program = tempFile('triple.bin', TRIPLE_FAULT);
    const dc = await startClient();
    const output = collectOutput(dc);
    try {
      await Promise.all([
        dc.configurationSequence(),
        dc.launch({ program, format: 'bin' }),
        dc.waitForEvent('terminated'),
      ]);
      assert.match(output.text('stderr'), /the machine stopped: triple fault/);
    } finally {
      await dc.stop();
    }
    const dc2 = await startClient();
    try {
      await launchStopped(dc2, { program, format: 'bin' }, () =>
        dc2.setExceptionBreakpointsRequest({ filters: ['triple'] }),
      );
      const stopped = await resumeUntilStopped(dc2, dc2.continueRequest({ threadId: 1 }));
      assert.equal(stopped.body.reason, 'exception');
      assert.match(stopped.body.description ?? '', /^triple fault/);
      assert.equal(await eip(dc2), 0x00100007);
      await Promise.all([dc2.continueRequest({ threadId: 1 }), dc2.waitForEvent('terminated')]);
    } finally {
      await dc2.stop();
    }
  });
});
