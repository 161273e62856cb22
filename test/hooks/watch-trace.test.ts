import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkFiles } from '../../adapter/hooks/check';
import type { StopInfo } from '../../adapter/hooks/engine';
import { jsonLinesSink, openJsonLinesFile } from '../../adapter/hooks/trace';
import { GCAP_ID_VALUE, HPET_BASE, HPET_FIXTURE, loadOk, makeRig } from './fixture';

const GEN_CONF = HPET_BASE + 0x10;

void describe('watchpoints', () => {
  void it('stops on a read of a named register with the documented description', () => {
    const stops: StopInfo[] = [];
    const { bus, engine } = makeRig({ onStop: (s) => stops.push(s) });
    const added = engine.addWatchpoint({ target: { name: 'hpet.GCAP_ID' }, direction: 'read' });
    assert.equal(added.ok, true);
    assert.equal(bus.interceptor, engine);
    bus.read(HPET_BASE + 0x10, 4);
    bus.write(HPET_BASE, 4, 0x8086a301);
    assert.equal(stops.length, 0, 'other registers and writes do not stop');
    bus.read(HPET_BASE, 4);
    assert.equal(stops.length, 1);
    const stop = stops[0];
    assert.equal(stop.description, 'read hpet.GCAP_ID, 4 bytes = 0x8086a301 at eip 0x00100a3c');
    assert.deepEqual(
      [stop.reason, stop.watchpointId, stop.address, stop.size, stop.value, stop.device, stop.register, stop.isWrite],
      ['watchpoint', added.ok ? added.id : -1, HPET_BASE, 4, 0x8086a301n, 'hpet', 'GCAP_ID', false],
    );
  });

  void it('reports the value after hooks', () => {
    const stops: StopInfo[] = [];
    const { bus, engine } = makeRig({ onStop: (s) => stops.push(s) });
    loadOk(
      engine,
      'seed.mmh',
      'on read hpet.GCAP_ID { value = device.read()\n value.NUM_TIM_CAP = value.NUM_TIM_CAP - 1\n handled }',
    );
    engine.addWatchpoint({ target: { name: 'hpet.GCAP_ID' }, direction: 'access' });
    bus.read(HPET_BASE + 4, 4);
    bus.read(HPET_BASE, 8);
    assert.deepEqual(
      stops.map((s) => s.description),
      [
        'read hpet.GCAP_ID+0x4, 4 bytes = 0x0429b17f at eip 0x00100a3c',
        'read hpet.GCAP_ID, 8 bytes = 0x0429b17f8086a201 at eip 0x00100a3c',
      ],
    );
  });

  void it('filters hits with a condition in the hook language, using fields in register coordinates', () => {
    const stops: StopInfo[] = [];
    const { bus, engine } = makeRig({ onStop: (s) => stops.push(s) });
    const added = engine.addWatchpoint({
      target: { name: 'hpet.GEN_CONF' },
      direction: 'write',
      condition: 'value.ENABLE_CNF == 1',
    });
    assert.equal(added.ok, true);
    bus.write(GEN_CONF, 4, 2);
    bus.write(GEN_CONF + 4, 4, 1);
    assert.equal(stops.length, 0, 'the upper half holds bits 32-63, not ENABLE_CNF');
    bus.write(GEN_CONF, 1, 3);
    assert.equal(stops.length, 1);
    assert.equal(stops[0].description, 'write hpet.GEN_CONF, 1 byte = 0x03 at eip 0x00100a3c');
  });

  void it('watches raw ranges with a mask condition, on write only', () => {
    const stops: StopInfo[] = [];
    const { bus, engine } = makeRig({ onStop: (s) => stops.push(s) });
    engine.addWatchpoint({
      target: { space: 'mmio', address: HPET_BASE + 0x100, length: 16 },
      direction: 'write',
      condition: 'value & 0x100 != 0',
    });
    bus.write(HPET_BASE + 0x100, 4, 0x0ff);
    bus.write(HPET_BASE + 0x108, 4, 0x100);
    bus.read(HPET_BASE + 0x108, 4);
    assert.deepEqual(
      stops.map((s) => s.description),
      ['write hpet.T0_COMPARATOR, 4 bytes = 0x00000100 at eip 0x00100a3c'],
    );
  });

  void it('rejects bad targets and conditions with diagnostics', () => {
    const { engine } = makeRig();
    const unknown = engine.addWatchpoint({ target: { name: 'hpet.GCAP' }, direction: 'read' });
    assert.equal(unknown.ok, false);
    assert.match(!unknown.ok ? unknown.diagnostics[0].message : '', /no register 'GCAP' \(did you mean GCAP_ID\?\)/);
    const notBool = engine.addWatchpoint({
      target: { name: 'hpet.GCAP_ID' },
      direction: 'read',
      condition: 'value & 0x100',
    });
    assert.match(!notBool.ok ? notBool.diagnostics[0].message : '', /must be a boolean/);
    const noField = engine.addWatchpoint({
      target: { name: 'hpet.GCAP_ID' },
      direction: 'read',
      condition: 'value.NUM == 3',
    });
    assert.match(!noField.ok ? noField.diagnostics[0].message : '', /no field 'NUM'/);
    const device = engine.addWatchpoint({
      target: { name: 'hpet.GCAP_ID' },
      direction: 'read',
      condition: 'device.read() == 1',
    });
    assert.match(!device.ok ? device.diagnostics[0].message : '', /cannot access the device/);
  });

  void it('can be disabled and removed, and the engine detaches afterwards', () => {
    const stops: StopInfo[] = [];
    const { bus, engine } = makeRig({ onStop: (s) => stops.push(s) });
    const added = engine.addWatchpoint({ target: { name: 'hpet' }, direction: 'access' });
    assert.ok(added.ok);
    engine.setWatchpointEnabled(added.id, false);
    bus.read(HPET_BASE, 4);
    assert.equal(stops.length, 0);
    engine.setWatchpointEnabled(added.id, true);
    bus.read(HPET_BASE + 0x3f8, 4);
    assert.equal(stops[0].description, 'read hpet+0x3f8, 4 bytes = 0x00000000 at eip 0x00100a3c');
    assert.equal(engine.listWatchpoints()[0].hits, 1);
    engine.removeWatchpoint(added.id);
    assert.equal(bus.interceptor, undefined);
  });
});

void describe('MMIO trace', () => {
  void it('records every access with time, eip, values before and after hooks and the decision', () => {
    const { bus, engine, context } = makeRig();
    loadOk(
      engine,
      'seed.mmh',
      'on read hpet.GCAP_ID { value = device.read()\n value.NUM_TIM_CAP = value.NUM_TIM_CAP - 1\n log "hidden"\n handled }',
    );
    const trace = engine.startTrace({ capacity: 8 });
    context.time = 1000;
    bus.read(HPET_BASE, 4);
    context.time = 2000;
    bus.write(GEN_CONF, 4, 1);
    const [read, write] = trace.latest(2);
    assert.deepEqual(
      [
        read.seq,
        read.time,
        read.eip,
        read.device,
        read.register,
        read.before,
        read.after,
        read.decision,
        read.hooks,
        read.logs,
      ],
      [
        0,
        1000,
        0x00100a3c,
        'hpet',
        'GCAP_ID',
        0x8086a301n,
        0x8086a201n,
        'handled',
        [{ name: 'read hpet.GCAP_ID', decision: 'handled' }],
        ['hidden'],
      ],
    );
    assert.deepEqual(
      [write.seq, write.time, write.isWrite, write.register, write.before, write.after, write.decision, write.hooks],
      [1, 2000, true, 'GEN_CONF', 1n, 1n, 'none', []],
    );
  });

  void it('keeps a bounded ring buffer with paging by sequence number and a device filter', () => {
    const { bus, engine } = makeRig();
    const trace = engine.startTrace({ capacity: 4 });
    for (let i = 0; i < 10; i++) bus.write(GEN_CONF, 4, i);
    assert.equal(trace.total, 10);
    assert.equal(trace.first, 6);
    assert.deepEqual(
      trace.query(0, 3).map((r) => [r.seq, r.before]),
      [
        [6, 6n],
        [7, 7n],
        [8, 8n],
      ],
    );
    assert.deepEqual(
      trace.query(9, 10).map((r) => r.seq),
      [9],
    );
    trace.setDeviceFilter(['com1']);
    bus.write(GEN_CONF, 4, 0);
    assert.equal(trace.total, 10, 'hpet accesses are filtered out');
    engine.stopTrace();
    assert.equal(bus.interceptor, undefined);
  });

  void it('writes JSON lines to a sink and to a file', () => {
    const { bus, engine } = makeRig();
    const trace = engine.startTrace();
    const lines: string[] = [];
    trace.addSink(jsonLinesSink((line) => lines.push(line)));
    const dir = mkdtempSync(join(tmpdir(), 'mmiodbg-trace-'));
    try {
      const file = openJsonLinesFile(join(dir, 'trace.jsonl'));
      trace.addSink(file.sink);
      bus.read(HPET_BASE, 8);
      file.close();
      assert.equal(lines.length, 1);
      assert.deepEqual(JSON.parse(lines[0]), {
        seq: 0,
        time: 0,
        eip: '0x100a3c',
        space: 'mmio',
        dir: 'read',
        address: '0xfed00000',
        size: 8,
        device: 'hpet',
        register: 'GCAP_ID',
        before: '0x' + GCAP_ID_VALUE.toString(16),
        after: '0x' + GCAP_ID_VALUE.toString(16),
        decision: 'none',
      });
      assert.equal(readFileSync(join(dir, 'trace.jsonl'), 'utf8'), lines[0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

void describe('checkFiles', () => {
  void it('prints ok for good files and file:line:col: error: message for bad ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmiodbg-check-'));
    try {
      const good = join(dir, 'good.mmh');
      const bad = join(dir, 'bad.mmh');
      writeFileSync(good, 'on read hpet.GCAP_ID { value = device.read()\n handled }\n');
      writeFileSync(bad, 'on read hpet.GCAP_ID {\n  value.NUM_TIM = 1\n  handled\n}\n');
      const ok = checkFiles([good], [HPET_FIXTURE]);
      assert.deepEqual([ok.ok, ok.output], [true, 'ok']);
      const failed = checkFiles([good, bad], [HPET_FIXTURE]);
      assert.equal(failed.ok, false);
      assert.equal(
        failed.output,
        `${bad}:2:9: error: register GCAP_ID has no field 'NUM_TIM' (did you mean NUM_TIM_CAP?)`,
      );
      const missing = checkFiles([join(dir, 'missing.mmh')]);
      assert.match(missing.output, /missing\.mmh:1:1: error: cannot read file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
