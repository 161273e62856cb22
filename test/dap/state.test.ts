import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CustomRequestResult } from '../../adapter/session/protocol';
import { HPET_PROBE, child, failure, launchStopped, scope, startClient, variables } from './support';

interface MemoryBody {
  data?: string;
  unreadableBytes?: number;
  bytesWritten?: number;
}

/** The test client has no typed helpers for readMemory/writeMemory. */
async function memory(dc: DebugClient, command: string, args: object): Promise<{ body?: MemoryBody }> {
  const response: { body?: MemoryBody } = await dc.customRequest(command, args);
  return response;
}

void describe('state of a guest stopped on entry', () => {
  let dc: DebugClient;
  before(async () => {
    dc = await startClient();
    await launchStopped(dc, { program: HPET_PROBE });
  });
  after(() => dc.stop());

  void it('shows general, segment, control and x87 registers decoded', async () => {
    const registers = await scope(dc, 'Registers');
    const eax = await child(dc, registers, 'EAX');
    assert.equal(eax.value, '0x2badb002');
    const eip = await child(dc, registers, 'EIP');
    assert.equal(eip.value, '0x00100010 <_start>');
    const eflags = await child(dc, registers, 'EFLAGS');
    const flagNames = (await variables(dc, eflags.variablesReference)).map((v) => v.name);
    assert.deepEqual(flagNames.slice(0, 10), ['CF', 'PF', 'AF', 'ZF', 'SF', 'TF', 'IF', 'DF', 'OF', 'IOPL']);
    assert.ok(flagNames.includes('VM'));
    const cs = await child(dc, registers, 'CS');
    const access = await child(dc, cs.variablesReference, 'access');
    assert.match(access.value, /code XR.*DPL=0, P, 32-bit, G=4K/);
    assert.equal((await child(dc, cs.variablesReference, 'limit')).value, '0xffffffff');
    assert.equal((await child(dc, registers, 'CR0')).value, '0x00000011 [PE ET]');
    const gdtr = await child(dc, registers, 'GDTR');
    assert.match(gdtr.value, /^base 0x00000600, limit 0x0017$/);
    const x87 = await child(dc, registers, 'x87');
    const st0 = await child(dc, x87.variablesReference, 'ST0');
    assert.equal(st0.value, 'empty');
    assert.match((await child(dc, x87.variablesReference, 'FCW')).value, /^0x037f/);
  });

  void it('shows the HPET registers with fields, meanings and access types, without side effects', async () => {
    const devices = await scope(dc, 'Devices');
    const hpet = await child(dc, devices, 'hpet');
    const gcap = await child(dc, hpet.variablesReference, 'GCAP_ID');
    assert.equal(gcap.value, '0x0429b17f80868301');
    const fields = await variables(dc, gcap.variablesReference);
    const byName = new Map(fields.map((f) => [f.name, f]));
    assert.equal(byName.get('NUM_TIM_CAP')?.value, '3 (4 timers)');
    assert.match(byName.get('NUM_TIM_CAP')?.type ?? '', /^RO bits 12:8/);
    assert.match(byName.get('COUNT_SIZE_CAP')?.value ?? '', /^0 \(32-bit/);
    assert.equal(byName.get('VENDOR_ID')?.value, '0x8086 (Intel)');
    const trace = (await dc.customRequest('mmiodbg/trace', { count: 100 }))
      .body as CustomRequestResult<'mmiodbg/trace'>;
    assert.equal(
      trace.records.filter((r) => r.device === 'hpet').length,
      0,
      'reading registers for display is not a device access',
    );
  });

  void it('sets registers, single flag bits, and writable device fields; refuses read-only fields', async () => {
    const registers = await scope(dc, 'Registers');
    const set = await dc.setVariableRequest({ variablesReference: registers, name: 'ECX', value: '0x1234 + 1' });
    assert.equal(set.body.value, '0x00001235');
    const eflags = await child(dc, registers, 'EFLAGS');
    await dc.setVariableRequest({ variablesReference: eflags.variablesReference, name: 'CF', value: '1' });
    assert.match((await child(dc, await scope(dc, 'Registers'), 'EFLAGS')).value, /^0x00000003 \[CF\]/);

    const devices = await scope(dc, 'Devices');
    const hpet = await child(dc, devices, 'hpet');
    const conf = await child(dc, hpet.variablesReference, 'GEN_CONF');
    const enable = await dc.setVariableRequest({
      variablesReference: conf.variablesReference,
      name: 'LEG_RT_CNF',
      value: '1',
    });
    assert.equal(enable.body.value, '1');
    assert.equal((await child(dc, hpet.variablesReference, 'GEN_CONF')).value, '0x0000000000000002');
    const gcap = await child(dc, hpet.variablesReference, 'GCAP_ID');
    const message = await failure(
      dc.setVariableRequest({ variablesReference: gcap.variablesReference, name: 'NUM_TIM_CAP', value: '2' }),
    );
    assert.match(message, /hpet\.GCAP_ID\.NUM_TIM_CAP is read-only \(RO\)/);
    await dc.setVariableRequest({ variablesReference: conf.variablesReference, name: 'LEG_RT_CNF', value: '0' });
    await dc.setVariableRequest({ variablesReference: registers, name: 'ECX', value: '0' });
  });

  void it('evaluates registers, device registers and fields, memory and arithmetic', async () => {
    const ev = async (expression: string, context = 'watch'): Promise<{ result: string; ref: number }> => {
      const r = await dc.evaluateRequest({ expression, context });
      return { result: r.body.result, ref: r.body.variablesReference };
    };
    assert.equal((await ev('eax')).result, '0x2badb002 (732803074)');
    const gcap = await ev('hpet.GCAP_ID', 'hover');
    assert.match(
      gcap.result,
      /^0x0429b17f80868301 \(REV_ID=1, NUM_TIM_CAP=3 \(4 timers\), COUNT_SIZE_CAP=0 \(32-bit\)/,
    );
    assert.ok(gcap.ref > 0);
    assert.equal((await ev('hpet.GCAP_ID.NUM_TIM_CAP')).result, '3 (4 timers)');
    assert.equal((await ev('[0xfed00000]', 'repl')).result, '0x80868301 (2156299009)');
    assert.equal((await ev('byte [0xfed00000]')).result, '0x01 (1)');
    assert.equal((await ev('word [0xfed00000 + 2]')).result, '0x8086 (32902)');
    assert.equal((await ev('(1 + 2) * 4 << 1 | 0x100')).result, '0x00000118 (280)');
    assert.equal((await ev('~0 & 0xff ^ 0xf0')).result, '0x0000000f (15)');
    assert.equal((await ev('eflags.IF')).result, '0x00000000 (0)');
    assert.match(await failure(ev('nosuch + 1')), /unknown name "nosuch"/);
    assert.match(await failure(ev('hpet.NOPE')), /device hpet has no register NOPE/);
  });

  void it('dumps memory in the Debug Console with x/LENGTH, from RAM and from a device, without side effects', async () => {
    const x = async (expression: string): Promise<DebugProtocol.EvaluateResponse['body']> =>
      (await dc.evaluateRequest({ expression, context: 'repl' })).body;
    const code = await x('x/16 eip');
    assert.equal(code.result, '0x00100010  fa bc 00 90 10 00 89 c1  0f 01 15 18 40 10 00 66  ............@..f');
    assert.equal(code.memoryReference, '0x00100010');
    // GCAP_ID (0x0429b17f80868301) little-endian, then RSVD and GEN_CONF, read with the devices' peek.
    const hpet = await x('x/24 phys 0xfed00000');
    const lines = hpet.result.split('\n');
    assert.equal(lines.length, 2);
    assert.match(lines[0], /^0xfed00000  01 83 86 80 7f b1 29 04  /);
    assert.match(lines[1], /^0xfed00010  [0-9a-f]{2}( [0-9a-f]{2}){7} {26}/);
    assert.equal(hpet.memoryReference, 'phys:0xfed00000');
    assert.equal((await x('x 0x1000')).result.split('\n').length, 4);
    assert.match(await failure(x('x/0 0x1000')), /the length is a byte count from 1 to 4096/);
    assert.match(await failure(x('x/16 nosuch')), /unknown name "nosuch"/);
    // The end of the address space: only what exists is listed.
    assert.equal((await x('x/32 phys 0xfffffff8')).result.split('\n').length, 1);
  });

  void it('disassembles around an address, backwards and forwards', async () => {
    const dis = await dc.disassembleRequest({
      memoryReference: '0x00100010',
      instructionOffset: -2,
      instructionCount: 6,
    });
    const list = dis.body?.instructions ?? [];
    assert.equal(list.length, 6);
    assert.equal(list[2].address, '0x00100010');
    assert.equal(list[2].instruction, 'cli');
    assert.equal(list[2].symbol, '_start');
    assert.equal(list[3].instruction, 'mov     esp, 0x109000');
    for (let i = 0; i + 1 < list.length; i++) {
      const length = (list[i].instructionBytes ?? '').split(' ').length;
      assert.equal(Number(list[i].address) + length, Number(list[i + 1].address), `instruction ${i} is contiguous`);
    }
    const later = await dc.disassembleRequest({
      memoryReference: '0x00100010',
      instructionOffset: 1,
      instructionCount: 1,
    });
    assert.equal(later.body?.instructions[0].address, '0x00100011');
  });

  void it('reads and writes guest memory by virtual and physical reference', async () => {
    const code = await memory(dc, 'readMemory', { memoryReference: '0x00100010', count: 5 });
    assert.equal(Buffer.from(code.body?.data ?? '', 'base64').toString('hex'), 'fabc009010');
    const hpet = await memory(dc, 'readMemory', { memoryReference: 'phys:0xfed00000', count: 4 });
    assert.equal(Buffer.from(hpet.body?.data ?? '', 'base64').toString('hex'), '01838680');
    const write = await memory(dc, 'writeMemory', {
      memoryReference: '0x00200000',
      data: Buffer.from([1, 2, 3]).toString('base64'),
    });
    assert.equal(write.body?.bytesWritten, 3);
    const back = await memory(dc, 'readMemory', { memoryReference: 'phys:0x00200000', count: 3 });
    assert.equal(Buffer.from(back.body?.data ?? '', 'base64').toString('hex'), '010203');
    const end = await memory(dc, 'readMemory', { memoryReference: '0xfffffffe', count: 4 });
    assert.equal(end.body?.unreadableBytes, 2);
  });

  void it('answers the devices, decode and writeRegister custom requests', async () => {
    const devices = (await dc.customRequest('mmiodbg/devices', { device: 'hpet' }))
      .body as CustomRequestResult<'mmiodbg/devices'>;
    assert.equal(devices.devices[0].registers.find((r) => r.name === 'GCAP_ID')?.value, '0x0429b17f80868301');
    const decoded = (await dc.customRequest('mmiodbg/decode', { register: 'hpet.GCAP_ID', value: '0x80868201' }))
      .body as CustomRequestResult<'mmiodbg/decode'>;
    assert.equal(decoded.register.fields.find((f) => f.name === 'NUM_TIM_CAP')?.meaning, '3 timers');
    const written = (
      await dc.customRequest('mmiodbg/writeRegister', {
        device: 'hpet',
        register: 'GEN_CONF',
        field: 'LEG_RT_CNF',
        value: '1',
        path: 'debugger',
      })
    ).body as CustomRequestResult<'mmiodbg/writeRegister'>;
    assert.equal(written.register.value, '0x0000000000000002');
    assert.match(
      await failure(
        dc.customRequest('mmiodbg/writeRegister', {
          device: 'hpet',
          register: 'GCAP_ID',
          field: 'NUM_TIM_CAP',
          value: '1',
          path: 'debugger',
        }),
      ),
      /read-only/,
    );
  });
});

void describe('views after a change', () => {
  void it('asks a client that supports it to read its variables again after a value changed', async () => {
    const dc = await startClient();
    try {
      await dc.initializeRequest({
        adapterID: 'mmiodbg',
        linesStartAt1: true,
        columnsStartAt1: true,
        supportsInvalidatedEvent: true,
      });
      await Promise.all([
        dc.configurationSequence(),
        dc.launchRequest({ program: HPET_PROBE, stopOnEntry: true } as DebugProtocol.LaunchRequestArguments),
        dc.waitForEvent('stopped'),
      ]);
      const hpet = await child(dc, await scope(dc, 'Devices'), 'hpet');
      const conf = await child(dc, hpet.variablesReference, 'GEN_CONF');
      const invalidated = dc.waitForEvent('invalidated');
      await dc.setVariableRequest({ variablesReference: conf.variablesReference, name: 'LEG_RT_CNF', value: '1' });
      assert.deepEqual((await invalidated).body.areas, ['variables']);
      // The register's own value is read anew: the field's change shows there too.
      const reread = await child(
        dc,
        (await child(dc, await scope(dc, 'Devices'), 'hpet')).variablesReference,
        'GEN_CONF',
      );
      assert.equal(reread.value, '0x0000000000000002');
      const again = dc.waitForEvent('invalidated');
      await dc.customRequest('mmiodbg/writeRegister', {
        device: 'hpet',
        register: 'GEN_CONF',
        field: 'LEG_RT_CNF',
        value: '0',
        path: 'debugger',
      });
      assert.deepEqual((await again).body.areas, ['variables']);
    } finally {
      await dc.stop();
    }
  });
});
