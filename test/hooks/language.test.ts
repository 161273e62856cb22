import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkSource } from '../../adapter/hooks/checker';
import type { Diagnostic } from '../../adapter/hooks/diagnostics';
import { tokenize } from '../../adapter/hooks/lexer';
import { parse } from '../../adapter/hooks/parser';
import { HPET_FIXTURE, UART_FIXTURE } from './fixture';

const DEVICES = [HPET_FIXTURE, UART_FIXTURE];

function errors(source: string): Diagnostic[] {
  return checkSource(source, DEVICES).diagnostics.filter((d) => d.severity === 'error');
}

function warnings(source: string): Diagnostic[] {
  return checkSource(source, DEVICES).diagnostics.filter((d) => d.severity === 'warning');
}

function only(list: Diagnostic[]): Diagnostic {
  assert.equal(list.length, 1, `expected one diagnostic, got: ${list.map((d) => d.message).join(' | ')}`);
  return list[0];
}

const SEED = `# The guest sees one HPET comparator fewer.
on read hpet.GCAP_ID {
    value = device.read()
    value.NUM_TIM_CAP = value.NUM_TIM_CAP - 1
    handled
}
`;

void describe('lexer', () => {
  void it('reads hex, binary and decimal numbers with underscores, and skips both comment styles', () => {
    const diagnostics: Diagnostic[] = [];
    const tokens = tokenize('0xfed0_0000 0b1010 42 # comment\n// another\nx', diagnostics);
    assert.deepEqual(
      tokens.map((t) => t.value ?? t.text),
      [0xfed00000n, 10n, 42n, 'x', ''],
    );
    assert.equal(diagnostics.length, 0);
    assert.equal(tokens[3].range.start.line, 3);
  });

  void it('prefers the longest operator', () => {
    const tokens = tokenize('a <<= b >= c .. d', []);
    assert.deepEqual(
      tokens.filter((t) => t.kind === 'punct').map((t) => t.text),
      ['<<=', '>=', '..'],
    );
  });

  void it('reports numbers wider than 64 bits and unterminated strings with their position', () => {
    const diagnostics: Diagnostic[] = [];
    tokenize('x = 0x1_0000_0000_0000_0000\nlog "open', diagnostics);
    assert.equal(diagnostics.length, 2);
    assert.match(diagnostics[0].message, /does not fit in 64 bits/);
    assert.deepEqual([diagnostics[0].range.start.line, diagnostics[0].range.start.column], [1, 5]);
    assert.match(diagnostics[1].message, /unterminated string/);
    assert.equal(diagnostics[1].range.start.line, 2);
  });
});

void describe('parser', () => {
  void it('parses the seed program into one read hook on hpet.GCAP_ID with three statements', () => {
    const { program, diagnostics } = parse(SEED);
    assert.deepEqual(diagnostics, []);
    const hook = program.items[0];
    assert.equal(hook.kind, 'hook');
    if (hook.kind !== 'hook') return;
    assert.equal(hook.onRead, true);
    assert.equal(hook.onWrite, false);
    assert.deepEqual(hook.target.kind === 'named' && [hook.target.device, hook.target.register], ['hpet', 'GCAP_ID']);
    assert.deepEqual(
      hook.body.map((s) => s.kind),
      ['assign', 'assign', 'end'],
    );
  });

  void it('binds bit operators tighter than comparisons, so `value & 0x100 != 0` tests the bit', () => {
    const { program } = parse('var x = 0x300 & 0x100 != 0');
    const state = program.items[0];
    assert.equal(state.kind, 'state');
    if (state.kind !== 'state') return;
    assert.equal(state.init.kind === 'binary' && state.init.op, '!=');
  });

  void it('parses raw ranges, port ranges, direction lists and default lengths', () => {
    const { program, diagnostics } = parse(
      'on write 0xfed00010 len 8 { }\non read|write port 0x3f8 { }\non access 0xfee00000 { }',
    );
    assert.deepEqual(diagnostics, []);
    const targets = program.items.map((i) => (i.kind === 'hook' ? [i.onRead, i.onWrite, i.target] : undefined));
    assert.deepEqual(targets, [
      [false, true, { kind: 'range', space: 'mmio', address: 0xfed00010, length: 8 }],
      [true, true, { kind: 'range', space: 'pio', address: 0x3f8, length: 1 }],
      [true, true, { kind: 'range', space: 'mmio', address: 0xfee00000, length: 4 }],
    ]);
  });

  void it('parses device declarations with registers and fields', () => {
    const { program, diagnostics } = parse(`
device mydev at 0xfe000000 size 0x1000 "My device" {
    register CTRL at 0x0 width 32 {
        field EN [0] rw "enable"
        field MODE [3:1] "mode"
    }
    register STATUS at 0x4 width 32 ro
}`);
    assert.deepEqual(diagnostics, []);
    const device = program.items[0];
    assert.equal(device.kind, 'device');
    if (device.kind !== 'device') return;
    assert.equal(device.base, 0xfe000000);
    assert.equal(device.registers[1].access, 'RO');
    assert.deepEqual(
      device.registers[0].fields.map((f) => [f.name, f.msb, f.lsb, f.access]),
      [
        ['EN', 0, 0, 'RW'],
        ['MODE', 3, 1, undefined],
      ],
    );
  });

  void it('locates interpolated expressions inside strings at their source column', () => {
    const { diagnostics } = parse('on read hpet.GCAP_ID {\n    log "v={value +}"\n}');
    const d = only(diagnostics);
    assert.equal(d.range.start.line, 2);
    assert.equal(d.range.start.column, 20);
  });

  void it('recovers after a bad statement and reports later errors too', () => {
    const { diagnostics } = parse('on read hpet.GCAP_ID {\n  value = = 1\n  value = )\n}');
    assert.equal(diagnostics.length, 2);
    assert.deepEqual(
      diagnostics.map((d) => d.range.start.line),
      [2, 3],
    );
  });

  void it('rejects chained comparisons', () => {
    const { diagnostics } = parse('var x = 1 < 2 < 3');
    assert.match(only(diagnostics).message, /cannot be chained/);
  });
});

void describe('checker', () => {
  void it('accepts the seed program with no diagnostics at all', () => {
    const result = checkSource(SEED, DEVICES);
    assert.deepEqual(result.diagnostics, []);
    assert.equal(result.program?.hooks[0]!.start, 0xfed00000);
    assert.equal(result.program?.hooks[0].length, 8);
  });

  void it('suggests the nearest device, register and field names', () => {
    const device = only(errors('on read hpte.GCAP_ID { }'));
    assert.equal(device.message, "unknown device 'hpte' (did you mean hpet?)");
    assert.deepEqual([device.range.start.line, device.range.start.column, device.range.end.column], [1, 9, 13]);
    assert.equal(
      only(errors('on read hpet.GCAP_D { }')).message,
      "device hpet has no register 'GCAP_D' (did you mean GCAP_ID?)",
    );
    const field = only(errors('on read hpet.GCAP_ID {\n  value = device.read()\n  value.NUM_TIM = 1\n  handled\n}'));
    assert.equal(field.message, "register GCAP_ID has no field 'NUM_TIM' (did you mean NUM_TIM_CAP?)");
    assert.deepEqual([field.range.start.line, field.range.start.column], [3, 9]);
    assert.equal(
      only(errors('on read hpet.GCAP_ID { var x = valeu }')).message,
      "unknown name 'valeu' (did you mean value?)",
    );
  });

  void it('refuses to assign access information and loop variables', () => {
    assert.equal(
      only(errors('on read hpet.GCAP_ID { address = 1 }')).message,
      'address is access information and is read-only',
    );
    assert.match(
      only(errors('on read hpet.GCAP_ID { for i in 0..3 { i = 2 } }')).message,
      /loop variable and is read-only/,
    );
  });

  void it('refuses writing read-only fields in a write hook, but allows changing them in what the guest reads', () => {
    const e = only(errors('on write hpet.T0_CONF_CAP { value.Tn_SIZE_CAP = 1 }'));
    assert.match(e.message, /field Tn_SIZE_CAP of T0_CONF_CAP is read-only: the device ignores writes to it/);
    assert.deepEqual(errors('on write hpet.T0_CONF_CAP { value.Tn_INT_ENB_CNF = 0 }'), []);
    assert.deepEqual(
      errors('on read hpet.T0_CONF_CAP { value = device.read()\n value.Tn_SIZE_CAP = 0\n handled }'),
      [],
    );
  });

  void it('reports type errors', () => {
    assert.match(
      only(errors('on read hpet.GCAP_ID { if value { } }')).message,
      /an if condition must be a boolean, not a GCAP_ID value \(compare it/,
    );
    assert.match(
      only(errors('on read hpet.GCAP_ID { var b = true\n b = 1 }')).message,
      /b is a boolean; cannot assign an integer/,
    );
    assert.match(
      only(errors('on read hpet.GCAP_ID { var x = 1 + true }')).message,
      /right side of '\+' must be an integer/,
    );
    assert.match(
      only(errors('on read hpet.GCAP_ID { var x = write == 1 }')).message,
      /cannot compare a boolean with an integer/,
    );
    assert.match(
      only(errors('on read 0xfed00000 { var x = value.EN }')).message,
      /value has no fields: this hook's target is not a register/,
    );
    assert.match(only(errors('var x = 1 / 0')).message, /division by zero/);
    assert.match(only(errors('var x = 1\nvar y = x + 1')).message, /must be a constant/);
  });

  void it('knows which device accesses each direction allows', () => {
    assert.match(
      only(errors('on write hpet.GEN_CONF { var x = device.read() }')).message,
      /device\.read\(\) is not available in a write hook/,
    );
    assert.match(
      only(errors('on read hpet.GEN_CONF { device.write(1) }')).message,
      /device\.write\(v\) is not available in a read hook/,
    );
    assert.match(
      only(errors('on access hpet.GEN_CONF { var x = device.read() }')).message,
      /also runs on writes: use it inside 'if read/,
    );
    assert.deepEqual(
      errors(
        'on access hpet.GEN_CONF { if read { value = device.read()\n handled } else { device.write(value)\n handled } }',
      ),
      [],
    );
    assert.deepEqual(errors('on access hpet.GEN_CONF { if !write { value = device.read()\n handled } }'), []);
  });

  void it('finds unreachable code after an ending on every path', () => {
    const e = only(errors('on read hpet.GCAP_ID {\n  handled\n  log "never"\n}'));
    assert.match(e.message, /unreachable code/);
    assert.equal(e.range.start.line, 3);
    const both = only(errors('on read hpet.GCAP_ID {\n  if eip == 0 { handled } else { emulate }\n  value = 1\n}'));
    assert.equal(both.range.start.line, 3);
    assert.deepEqual(errors('on read hpet.GCAP_ID {\n  if eip == 0 { handled }\n  value = 1\n  handled\n}'), []);
  });

  void it('warns when a read hook changes value and then ends with an implicit emulate', () => {
    const w = only(warnings('on read hpet.GCAP_ID {\n  value = device.read()\n  value.REV_ID = 2\n}'));
    assert.match(
      w.message,
      /the hook ends without emulate\/handled, which means emulate: the device is read a second time/,
    );
    assert.deepEqual([w.range.start.line, w.range.start.column], [4, 1]);
    assert.match(only(warnings('on read hpet.GCAP_ID { value = 5 }')).message, /changes to value are lost/);
    assert.deepEqual(warnings('on write hpet.GEN_CONF { value.ENABLE_CNF = 0 }'), []);
  });

  void it('checks declared devices and lets hooks use their names', () => {
    const source = `
device mydev at 0xfe000000 size 0x1000 {
    register CTRL at 0x0 width 32 { field EN [0] rw "enable"
                                    field VERSION [15:8] ro "version" }
}
on write mydev.CTRL { value.EN = 0 }
on write mydev.CTRL2 { }
on write mydev.CTRL { value.VERSION = 1 }`;
    const list = errors(source);
    assert.deepEqual(
      list.map((d) => [d.range.start.line, d.message]),
      [
        [7, "device mydev has no register 'CTRL2' (did you mean CTRL?)"],
        [8, "this hook overlaps the hook 'write mydev.CTRL' on line 6: a byte can have only one write hook per file"],
        [8, 'field VERSION of CTRL is read-only: the device ignores writes to it'],
      ],
    );
    assert.match(only(errors('device d at 0 size 4 { register R at 4 width 32 }')).message, /lies outside device d/);
    assert.match(
      only(errors('device d at 0 size 8 { register R at 0 width 32 { field A [3:0]\n field B [4:2] } }')).message,
      /overlaps field A/,
    );
    assert.match(only(errors('device hpet at 0 size 8 { }')).message, /already described/);
  });

  void it('does not allow built-in names as variables, nor state shadowed by locals', () => {
    assert.match(only(errors('var value = 1')).message, /value is a built-in name/);
    assert.match(only(errors('var n = 0\non read hpet.GCAP_ID { var n = 1 }')).message, /already a state variable/);
  });

  void it('accepts port hooks on a described port device, with register fields', () => {
    assert.deepEqual(errors('on read com1.LSR { value = device.read()\n value.THRE = 1\n handled }'), []);
  });
});
