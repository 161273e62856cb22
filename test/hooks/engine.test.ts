import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PortSpace } from '../../adapter/core/bus/ports';
import type { HookInfo, StopInfo } from '../../adapter/hooks/engine';
import { HookEngine } from '../../adapter/hooks/engine';
import {
  FakeContext,
  FakeDevice,
  GCAP_ID_VALUE,
  HPET_BASE,
  HPET_FIXTURE,
  UART_FIXTURE,
  loadOk,
  makeRig,
} from './fixture';

const SEED = `# The guest sees one HPET comparator fewer.
on read hpet.GCAP_ID {
    value = device.read()
    value.NUM_TIM_CAP = value.NUM_TIM_CAP - 1
    handled
}
`;

const T0_COMPARATOR = HPET_BASE + 0x108;
const GEN_CONF = HPET_BASE + 0x10;

function mask(size: number): bigint {
  return (1n << BigInt(size * 8)) - 1n;
}

void describe('the seed program on the HPET fixture', () => {
  void it('hides one comparator in a 4-byte read of GCAP_ID', () => {
    const { bus, engine, device } = makeRig();
    assert.equal(bus.read(HPET_BASE, 4), 0x8086a301, 'unhooked');
    loadOk(engine, 'seed.mmh', SEED);
    device.log.length = 0;
    assert.equal(bus.read(HPET_BASE, 4), 0x8086a201);
    assert.deepEqual(
      device.log,
      [{ kind: 'read', offset: 0, size: 4, value: 0x8086a301 }],
      'the device is read exactly once',
    );
  });

  void it('hides one comparator in an 8-byte read', () => {
    const { bus, engine } = makeRig();
    loadOk(engine, 'seed.mmh', SEED);
    assert.equal(bus.read(HPET_BASE, 8), 0x0429b17f_8086a201n);
  });

  void it('leaves a 4-byte read of the upper half alone: that part holds no NUM_TIM_CAP bits', () => {
    const { bus, engine } = makeRig();
    loadOk(engine, 'seed.mmh', SEED);
    assert.equal(bus.read(HPET_BASE + 4, 4), 0x0429b17f);
    assert.equal(bus.read(HPET_BASE + 1, 1), 0xa2, 'the byte that holds NUM_TIM_CAP');
    assert.equal(bus.read(HPET_BASE, 1), 0x01);
    assert.equal(engine.listHooks()[0].hits, 3);
  });
});

void describe('BitVisor semantics: read and write × emulate and handled', () => {
  void it('read + handled without device.read(): the guest gets value, the device sees nothing', () => {
    const { bus, engine, device } = makeRig();
    loadOk(engine, 'h.mmh', 'on read hpet.GEN_CONF { value = 0x1234\n handled }');
    assert.equal(bus.read(GEN_CONF, 4), 0x1234);
    assert.deepEqual(device.log, []);
  });

  void it('read + emulate: the device is read and the guest gets its value; changes to value are discarded', () => {
    const { bus, engine, device } = makeRig();
    device.set64(0x10, 3n);
    loadOk(engine, 'h.mmh', 'on read hpet.GEN_CONF { value = 0x1234\n emulate }');
    assert.equal(bus.read(GEN_CONF, 4), 3);
    assert.equal(device.log.length, 1);
  });

  void it('read without an ending defaults to emulate', () => {
    const { bus, engine, device } = makeRig();
    device.set64(0x10, 2n);
    const result = engine.load('h.mmh', 'var n = 0\non read hpet.GEN_CONF { n += 1 }');
    assert.equal(result.ok, true);
    assert.equal(bus.read(GEN_CONF, 4), 2);
    assert.deepEqual(engine.fileState('h.mmh'), [{ name: 'n', value: 1n }]);
  });

  void it('write + emulate: the device receives value as the hook left it', () => {
    const { bus, engine, device } = makeRig();
    loadOk(engine, 'h.mmh', 'on write hpet.GEN_CONF { value.ENABLE_CNF = 0 }');
    bus.write(GEN_CONF, 4, 3);
    assert.deepEqual(device.log, [{ kind: 'write', offset: 0x10, size: 4, value: 2 }]);
  });

  void it('write + handled: the device receives nothing', () => {
    const { bus, engine, device } = makeRig();
    loadOk(engine, 'h.mmh', 'on write hpet.GEN_CONF { handled }');
    bus.write(GEN_CONF, 4, 3);
    assert.deepEqual(device.log, []);
    assert.equal(device.get64(0x10), 0n);
  });

  void it('write + handled after device.write(v): the device receives v once', () => {
    const { bus, engine, device } = makeRig();
    loadOk(engine, 'h.mmh', 'on write hpet.GEN_CONF { device.write(value | 0x100)\n handled }');
    bus.write(GEN_CONF, 4, 1);
    assert.deepEqual(device.log, [{ kind: 'write', offset: 0x10, size: 4, value: 0x101 }]);
  });

  for (const size of [1, 2, 4, 8] as const) {
    void it(`${size}-byte reads of a hooked 64-bit register see their own part in register coordinates`, () => {
      const { bus, engine } = makeRig();
      loadOk(engine, 'h.mmh', 'on read hpet.T0_COMPARATOR { value = 0x1122334455667788\n handled }');
      for (let offset = 0; offset < 8; offset += size) {
        const expected = (0x1122334455667788n >> BigInt(offset * 8)) & mask(size);
        assert.equal(BigInt(bus.read(T0_COMPARATOR + offset, size)), expected, `offset ${offset}`);
      }
    });

    void it(`${size}-byte writes of a hooked 64-bit register reach the device with the hook's change, at the right bytes`, () => {
      const { bus, engine, device } = makeRig();
      loadOk(engine, 'h.mmh', 'on write hpet.T0_COMPARATOR { value = ~value }');
      for (let offset = 0; offset < 8; offset += size) {
        device.set64(0x108, 0n);
        const guest = size === 8 ? 0x0102030405060708n : BigInt(0x5a5a5a5a) & mask(size);
        bus.write(T0_COMPARATOR + offset, size, size === 8 ? guest : Number(guest));
        const expected = (~guest & mask(size)) << BigInt(offset * 8);
        assert.equal(device.get64(0x108), expected, `offset ${offset}`);
      }
    });
  }
});

void describe('splitting accesses', () => {
  void it('a read that is only partly hooked: the unhooked half comes straight from the device', () => {
    const { bus, engine, device } = makeRig();
    loadOk(engine, 'h.mmh', 'on read 0xfed00004 len 4 { value = 0xdeadbeef\n handled }');
    assert.equal(bus.read(HPET_BASE, 8), 0xdeadbeef_8086a301n);
    assert.deepEqual(device.log, [{ kind: 'read', offset: 0, size: 4, value: 0x8086a301 }]);
  });

  void it('a write that is only partly hooked: each side is applied on its own', () => {
    const { bus, engine, device } = makeRig();
    loadOk(engine, 'h.mmh', 'on write 0xfed0010c len 4 { handled }');
    bus.write(T0_COMPARATOR, 8, 0xaaaaaaaa_bbbbbbbbn);
    assert.equal(device.get64(0x108), 0xbbbbbbbbn);
  });

  void it('an access over two hooks: each hook sees its own address, offset and size', () => {
    const logs: string[] = [];
    const { bus, engine } = makeRig({ onLog: (m) => logs.push(m) });
    loadOk(
      engine,
      'h.mmh',
      `on read 0xfed00100 len 4 { log "A {address} {offset} {size}"\n value = 0x11111111\n handled }
on read 0xfed00104 len 4 { log "B {address} {offset} {size}"\n value = 0x22222222\n handled }`,
    );
    assert.equal(bus.read(HPET_BASE + 0x100, 8), 0x22222222_11111111n);
    assert.deepEqual(logs, ['A 0xfed00100 0x0 4', 'B 0xfed00104 0x0 4']);
  });

  void it('a hook on an odd range sees naturally aligned pieces; the rest goes to the device', () => {
    const logs: string[] = [];
    const { bus, engine, device } = makeRig({ onLog: (m) => logs.push(m) });
    loadOk(engine, 'h.mmh', 'on write 0xfed00101 len 3 { log "{address}: {offset:d}+{size}"\n value = 0 }');
    bus.write(HPET_BASE + 0x100, 4, 0xffffffff);
    assert.deepEqual(logs, ['0xfed00101: 0+1', '0xfed00102: 1+2']);
    assert.equal(device.get64(0x100), 0xffn);
  });

  void it('where files overlap, the file loaded last wins', () => {
    const { bus, engine } = makeRig();
    loadOk(engine, 'a.mmh', 'on read hpet.GEN_CONF { value = 1\n handled }');
    loadOk(engine, 'b.mmh', 'on read 0xfed00010 len 2 { value = 2\n handled }');
    assert.equal(bus.read(GEN_CONF, 4), 0x00000002);
    assert.equal(bus.read(GEN_CONF + 2, 2), 0, 'bytes 2-3 still belong to a.mmh (value 1 has zeros there)');
    engine.unload('b.mmh');
    assert.equal(bus.read(GEN_CONF, 4), 1);
  });
});

void describe('hook context and state', () => {
  void it('exposes eip, cpl, time, hits and the direction to hooks', () => {
    const logs: string[] = [];
    const context = new FakeContext();
    const { bus, engine } = makeRig({ onLog: (m) => logs.push(m), context });
    context.eipValue = 0xc0101234;
    context.cplValue = 3;
    context.time = 123456;
    loadOk(engine, 'h.mmh', 'on access hpet.GEN_CONF { log "{eip} {cpl} {time} {hits} {write} {width}" }');
    bus.read(GEN_CONF, 4);
    bus.write(GEN_CONF, 2, 0);
    assert.deepEqual(logs, ['0xc0101234 3 123456 1 false 32', '0xc0101234 3 123456 2 true 16']);
  });

  void it('keeps state across calls and across a reload with the same name and type', () => {
    const { bus, engine } = makeRig();
    const source = (k: number) =>
      `var count = 0\non read hpet.GEN_CONF { count = count + ${k}\n value = count\n handled }`;
    loadOk(engine, 'h.mmh', source(1));
    bus.read(GEN_CONF, 4);
    assert.equal(bus.read(GEN_CONF, 4), 2);
    loadOk(engine, 'h.mmh', source(10));
    assert.equal(bus.read(GEN_CONF, 4), 12);
  });

  void it('formats values in log interpolation: hex, decimal, binary and decoded fields', () => {
    const logs: string[] = [];
    const { bus, engine } = makeRig({ onLog: (m) => logs.push(m) });
    loadOk(
      engine,
      'h.mmh',
      'on read hpet.GCAP_ID { value = device.read()\n log "{value.NUM_TIM_CAP} {value.REV_ID:b} {value:fields}"\n handled }',
    );
    bus.read(HPET_BASE, 8);
    assert.equal(
      logs[0],
      '3 0b1 0x0429b17f8086a301 (REV_ID=1, NUM_TIM_CAP=3, COUNT_SIZE_CAP=1, LEG_RT_CAP=1, VENDOR_ID=0x8086, COUNTER_CLK_PERIOD=0x429b17f)',
    );
  });

  void it('break "reason" asks the debugger to stop after the access', () => {
    const stops: StopInfo[] = [];
    const { bus, engine } = makeRig({ onStop: (s) => stops.push(s) });
    loadOk(engine, 'h.mmh', 'on write hpet.GEN_CONF { if value.ENABLE_CNF == 1 { break "HPET enabled" } }');
    bus.write(GEN_CONF, 4, 0);
    assert.equal(stops.length, 0);
    bus.write(GEN_CONF, 4, 1);
    assert.equal(stops.length, 1);
    assert.equal(stops[0].reason, 'hook');
    assert.equal(stops[0].description, 'HPET enabled: write hpet.GEN_CONF, 4 bytes = 0x00000001 at eip 0x00100a3c');
  });
});

void describe('live reload and faults', () => {
  void it('keeps the previous version active when a reload has errors, and swaps when it compiles', () => {
    const { bus, engine } = makeRig();
    loadOk(engine, 'h.mmh', 'on read hpet.GEN_CONF { value = 1\n handled }');
    const bad = engine.load('h.mmh', 'on read hpet.GEN_CONF { value = 2\n handled\n }\non read hpet.NOPE { }');
    assert.equal(bad.ok, false);
    assert.match(bad.diagnostics[0].message, /no register 'NOPE'/);
    assert.equal(bus.read(GEN_CONF, 4), 1);
    loadOk(engine, 'h.mmh', 'on read hpet.GEN_CONF { value = 3\n handled }');
    assert.equal(bus.read(GEN_CONF, 4), 3);
    assert.equal(engine.listHooks().length, 1);
  });

  void it('disables a hook that divides by zero, reports it, and completes the access as if unhooked', () => {
    const faults: [HookInfo, string][] = [];
    const { bus, engine, device } = makeRig({ onFault: (h, m) => faults.push([h, m]) });
    device.set64(0x10, 7n);
    loadOk(
      engine,
      'h.mmh',
      'var zero = 0\non read hpet.GEN_CONF { value = device.read()\n value = value / zero\n handled }',
    );
    assert.equal(bus.read(GEN_CONF, 4), 7);
    assert.equal(device.log.length, 1, 'the device value the hook read is reused, not read again');
    assert.equal(faults.length, 1);
    assert.equal(faults[0][1], 'division by zero');
    const info = engine.listHooks()[0];
    assert.equal(info.enabled, false);
    assert.equal(info.lastError, 'division by zero');
    assert.equal(bus.read(GEN_CONF, 4), 7);
    assert.equal(faults.length, 1, 'a disabled hook no longer runs');
    assert.equal(bus.interceptor, undefined, 'with nothing active the engine detaches');
  });

  void it('stops a runaway loop with the step budget and lets the write through unchanged', () => {
    const faults: string[] = [];
    const { bus, engine, device } = makeRig({ onFault: (_h, m) => faults.push(m), stepBudget: 1000 });
    loadOk(engine, 'h.mmh', 'var n = 0\non write hpet.GEN_CONF { for i in 0..0xffffffffffff { n += 1 }\n value = 0 }');
    const started = process.hrtime.bigint();
    bus.write(GEN_CONF, 4, 3);
    assert.ok(process.hrtime.bigint() - started < 1_000_000_000n);
    assert.match(faults[0], /step budget exceeded/);
    assert.equal(device.get64(0x10), 3n);
    assert.deepEqual(engine.fileState('h.mmh'), [{ name: 'n', value: 1000n }]);
  });

  void it('runs a bounded loop within the budget', () => {
    const { bus, engine } = makeRig();
    loadOk(
      engine,
      'h.mmh',
      'on read hpet.GEN_CONF { var sum = 0\n for i in 1..11 { sum += i }\n value = sum\n handled }',
    );
    assert.equal(bus.read(GEN_CONF, 4), 55);
  });
});

void describe('attachment, ranges and declared devices', () => {
  void it('attaches only while something is active and reports hooked ranges with a change notification', () => {
    const { bus, engine } = makeRig();
    let changes = 0;
    engine.onRangesChanged(() => changes++);
    assert.equal(bus.interceptor, undefined);
    loadOk(engine, 'h.mmh', SEED);
    assert.equal(bus.interceptor, engine);
    assert.deepEqual(engine.hookedRanges(), [{ space: 'mmio', start: HPET_BASE, length: 8 }]);
    assert.equal(changes, 1);
    engine.setHookEnabled(engine.listHooks()[0].id, false);
    assert.equal(bus.interceptor, undefined);
    assert.deepEqual(engine.hookedRanges(), []);
    assert.equal(changes, 2);
    engine.unload('h.mmh');
    assert.deepEqual(engine.listHooks(), []);
  });

  void it('gives a declared device without a model a register store, and hooks on its names work', () => {
    const { bus, engine } = makeRig();
    loadOk(
      engine,
      'mydev.mmh',
      `device mydev at 0xfe000000 size 0x1000 {
    register CTRL at 0x0 width 32 { field EN [0] rw "enable"
                                    field MODE [3:1] rw "mode" }
}
on read mydev.CTRL { value = device.read()\n value.MODE = 5\n handled }`,
    );
    assert.equal(bus.read(0xfe000000, 4), 0x0000000a);
    bus.write(0xfe000000, 4, 1);
    assert.equal(bus.read(0xfe000000, 4), 0x0000000b);
    assert.ok(engine.devices().some((d) => d.name === 'mydev'));
    engine.unload('mydev.mmh');
    assert.equal(bus.findRegion(0xfe000000), undefined);
  });

  void it('hooks port I/O by port number and by register name', () => {
    const ports = new PortSpace();
    const uart = new FakeDevice();
    uart.bytes[5] = 0x00;
    ports.register(0x3f8, 8, uart, { device: 'com1' });
    const engine = new HookEngine({ devices: [HPET_FIXTURE, UART_FIXTURE] });
    engine.attach(undefined, ports);
    loadOk(
      engine,
      'uart.mmh',
      'on write port 0x3f8 { value = value + 1 }\non read com1.LSR { value = device.read()\n value.THRE = 1\n handled }',
    );
    ports.write(0x3f8, 1, 0x41);
    assert.deepEqual(uart.log.at(-1), { kind: 'write', offset: 0, size: 1, value: 0x42 });
    assert.equal(ports.read(0x3fd, 1), 0x20);
    assert.equal(ports.interceptor, engine);
  });

  void it('leaves an unrelated access untouched while a hook elsewhere is active', () => {
    const { bus, engine, device } = makeRig();
    loadOk(engine, 'h.mmh', SEED);
    device.set64(0xf0, 0x1234n);
    assert.equal(bus.read(HPET_BASE + 0xf0, 4), 0x1234);
    bus.write(HPET_BASE + 0xf0, 4, 0x99);
    assert.equal(device.get64(0xf0), 0x99n);
    assert.equal(GCAP_ID_VALUE & 0xffn, 1n);
  });
});
