/** What the MMIO trace shows for an access: the decoded fields are those of the bytes the access covered. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TraceRecord } from '../../adapter/hooks/trace';
import { PcMachine } from '../../adapter/core/machine/pc';
import { traceView } from '../../adapter/session/views';

function gcapRead(address: number, size: number, value: bigint): TraceRecord {
  return {
    seq: 0,
    time: 0,
    eip: 0x101000,
    space: 'mmio',
    address,
    size,
    isWrite: false,
    device: 'hpet',
    register: 'GCAP_ID',
    before: value,
    after: value,
    decision: 'none',
    hooks: [],
    logs: [],
  };
}

void describe('trace view', () => {
  const machine = new PcMachine({ memoryMiB: 4 });

  void it('a dword read of GCAP_ID decodes the low fields only', () => {
    const view = traceView(machine, gcapRead(0xfed00000, 4, 0x80868301n));
    assert.ok(view.fields);
    assert.match(view.fields, /^REV_ID=1, NUM_TIM_CAP=3 \(4 timers\)/);
    assert.match(view.fields, /VENDOR_ID=0x8086/);
    assert.doesNotMatch(view.fields, /COUNTER_CLK_PERIOD/);
  });

  void it('a read of the upper dword decodes COUNTER_CLK_PERIOD, not the low fields as zeros', () => {
    const view = traceView(machine, gcapRead(0xfed00004, 4, 69841279n));
    assert.ok(view.fields);
    assert.match(view.fields, /^COUNTER_CLK_PERIOD=/);
    assert.doesNotMatch(view.fields, /REV_ID|NUM_TIM_CAP|VENDOR_ID/);
  });

  void it('a qword read decodes every field', () => {
    const view = traceView(machine, gcapRead(0xfed00000, 8, (69841279n << 32n) | 0x80868301n));
    assert.ok(view.fields);
    assert.match(view.fields, /REV_ID=1/);
    assert.match(view.fields, /COUNTER_CLK_PERIOD=/);
  });

  void it('a byte read decodes the fields in that byte; a read across two fields marks both as partly accessed', () => {
    const byte = traceView(machine, gcapRead(0xfed00001, 1, 0x83n));
    assert.equal(byte.fields, 'NUM_TIM_CAP=3 (4 timers), COUNT_SIZE_CAP=0 (32-bit), LEG_RT_CAP=1');
    // Bytes 3-4: the top of VENDOR_ID and the bottom of COUNTER_CLK_PERIOD.
    const word = traceView(machine, gcapRead(0xfed00003, 2, 0x7f80n));
    assert.equal(word.fields, 'VENDOR_ID=0x8000 (partly accessed), COUNTER_CLK_PERIOD=127 (partly accessed)');
  });
});
