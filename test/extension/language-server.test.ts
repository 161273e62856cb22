import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PcMachine } from '../../adapter/core/machine/pc';
import {
  completionsAt,
  definitionAt,
  diagnosticsFor,
  HookDocument,
  hoverAt,
  referenceAt,
} from '../../adapter/hooks/server/features';
import { HookWorkspace } from '../../adapter/hooks/server/workspace';

const DEVICES = new PcMachine({ memoryMiB: 2 }).deviceDescriptions();

/** Returns the document and the offset of the `|` cursor marker (removed from the text). */
function at(textWithCursor: string): { doc: HookDocument; offset: number } {
  const offset = textWithCursor.indexOf('|');
  assert.ok(offset >= 0, 'test text needs a | cursor');
  const text = textWithCursor.slice(0, offset) + textWithCursor.slice(offset + 1);
  return { doc: new HookDocument(text, DEVICES), offset };
}

function labels(textWithCursor: string): string[] {
  const { doc, offset } = at(textWithCursor);
  return completionsAt(doc, offset).map((c) => c.label);
}

const SEED = `# The guest sees one HPET comparator fewer.
on read hpet.GCAP_ID {
    value = device.read()
    value.NUM_TIM_CAP = value.NUM_TIM_CAP - 1
    handled
}
`;

const DECLARED = `device mydev at 0xfe000000 size 0x1000 "My device" {
    register CTRL at 0x0 width 32 rw "control" {
        field EN [0] rw "enable"
        field MODE [3:1] "mode"
    }
}
var writes = 0
on write mydev.CTRL {
    writes += 1
    value.MODE = 2
}
`;

void describe('hook language server: diagnostics', () => {
  void it('reports the checker diagnostics with did-you-mean hints', () => {
    const diagnostics = diagnosticsFor('on read hpte.GCAP_ID { handled }\n', DEVICES);
    assert.equal(diagnostics.length, 1);
    assert.match(diagnostics[0].message, /unknown device 'hpte' \(did you mean hpet\?\)/);
    assert.equal(diagnostics[0].range.start.line, 1);
    assert.equal(diagnostics[0].range.start.column, 9);
  });

  void it('accepts the seed hook', () => {
    assert.deepEqual(
      diagnosticsFor(SEED, DEVICES).filter((d) => d.severity === 'error'),
      [],
    );
  });
});

void describe('hook language server: completion', () => {
  void it('offers devices after a direction and registers after a device name', () => {
    assert.ok(labels('on read |').includes('hpet'));
    assert.ok(labels('on read |').includes('port'));
    const regs = labels('on read hpet.|');
    assert.ok(regs.includes('GCAP_ID') && regs.includes('GEN_CONF'), regs.join(','));
    assert.ok(labels('on read hpet.GC|').includes('GCAP_ID'));
  });

  void it('offers the fields of the hook register after value.', () => {
    const fields = labels('on read hpet.GCAP_ID {\n    value.|\n}\n');
    assert.ok(fields.includes('NUM_TIM_CAP') && fields.includes('VENDOR_ID'), fields.join(','));
    assert.ok(!fields.includes('RSVD_14_14'));
  });

  void it('offers device methods, statement keywords and top-level keywords', () => {
    assert.deepEqual(labels('on read hpet.GCAP_ID {\n    value = device.|\n}\n'), ['read', 'write']);
    const inBody = labels('on read hpet.GCAP_ID {\n    |\n}\n');
    for (const k of ['handled', 'emulate', 'log', 'value', 'eip']) assert.ok(inBody.includes(k), k);
    assert.ok(labels('|').includes('on'));
    assert.ok(labels('var n = 0\non write hpet.GEN_CONF {\n  |\n}').includes('n'));
  });

  void it('offers the fields of a register declared in the file', () => {
    assert.deepEqual(labels(DECLARED.replace('value.MODE', 'value.|MODE')).sort(), ['EN', 'MODE']);
  });
});

void describe('hook language server: hover', () => {
  void it('shows a register with its doc, width, access and fields', () => {
    const { doc, offset } = at('on read hpet.GCA|P_ID { handled }');
    const hover = hoverAt(doc, offset);
    assert.ok(hover);
    assert.match(hover.markdown, /\*\*hpet\.GCAP_ID\*\* — 64-bit, RO, 0xfed00000/);
    assert.match(hover.markdown, /\| NUM_TIM_CAP \| \[12:8\] \| RO \|/);
  });

  void it('shows a field with its bit range and access', () => {
    const { doc, offset } = at(SEED.replace('value.NUM_TIM_CAP =', 'value.NUM_|TIM_CAP ='));
    const hover = hoverAt(doc, offset);
    assert.ok(hover);
    assert.match(hover.markdown, /GCAP_ID\.NUM_TIM_CAP\*\* — bits \[12:8\], RO/);
    assert.match(hover.markdown, /number of timers minus one/);
  });

  void it('decodes a number against the register of the hook', () => {
    const { doc, offset } = at('on read hpet.GCAP_ID {\n    value = 0x8086|8301\n    handled\n}\n');
    const hover = hoverAt(doc, offset);
    assert.ok(hover);
    const md = hover.markdown;
    assert.match(md, /\| REV_ID \| \[7:0\] \| 1 \|/);
    assert.match(md, /\| NUM_TIM_CAP \| \[12:8\] \| 3 \| 4 timers \|/);
    assert.match(md, /\| COUNT_SIZE_CAP \| \[13\] \| 0 \| 32-bit \|/);
    assert.match(md, /\| LEG_RT_CAP \| \[15\] \| 1 \|/);
    assert.match(md, /\| VENDOR_ID \| \[31:16\] \| 0x8086 \|/);
  });

  void it('decodes a number assigned to a field as that field', () => {
    const { doc, offset } = at('on read hpet.GCAP_ID {\n    value.NUM_TIM_CAP = |2\n    handled\n}\n');
    assert.match(hoverAt(doc, offset)?.markdown ?? '', /GCAP_ID\.NUM_TIM_CAP \[12:8\] = 2 \(3 timers\)/);
  });

  void it('explains access information names', () => {
    const { doc, offset } = at(
      'on read hpet.GCAP_ID {\n    log "{e|ip}"\n    var x = ei|p\n}\n'.replace('e|ip', 'eip'),
    );
    assert.match(hoverAt(doc, offset)?.markdown ?? '', /EIP of the instruction/);
  });
});

void describe('hook language server: definition', () => {
  void it('goes to user-declared devices, registers, fields and state', () => {
    const check = (marked: string, expected: string): void => {
      const { doc, offset } = at(marked);
      const target = definitionAt(doc, offset);
      assert.ok(target, `no definition for ${expected}`);
      const declaredAt = DECLARED.indexOf(expected);
      assert.equal(target.start, declaredAt, expected);
    };
    check(DECLARED.replace('on write mydev.CTRL', 'on write my|dev.CTRL'), 'mydev at');
    check(DECLARED.replace('on write mydev.CTRL', 'on write mydev.CT|RL'), 'CTRL at');
    check(DECLARED.replace('value.MODE', 'value.MO|DE'), 'MODE [3:1]');
    check(DECLARED.replace('    writes += 1', '    wri|tes += 1'), 'writes = 0');
  });

  void it('has no definition for machine devices', () => {
    const { doc, offset } = at('on read hp|et.GCAP_ID { handled }');
    assert.equal(definitionAt(doc, offset), undefined);
  });
});

void describe('hook language server: devices declared in other files', () => {
  const DEVICES_FILE = `device mydev at 0xfe000000 size 0x1000 "My device" {
    register CTRL at 0x0 width 32 rw "control" {
        field EN [0] rw "enable"
    }
}
`;
  const USES = `on write mydev.CTRL {
    value.EN = 1
}
`;

  void it('knows a device another file declares, and where', () => {
    const workspace = new HookWorkspace(DEVICES);
    assert.equal(workspace.set('file:///w/uses.mmh', USES, true), false);
    assert.match(diagnosticsFor(USES, workspace.devicesFor('file:///w/uses.mmh'))[0]?.message ?? '', /unknown device/);
    const generation = workspace.generation;
    assert.equal(workspace.set('file:///w/devices.mmh', DEVICES_FILE, false), true);
    assert.ok(workspace.generation > generation);
    assert.deepEqual(diagnosticsFor(USES, workspace.devicesFor('file:///w/uses.mmh')), []);
    // A file does not see its own declarations through the workspace (its text has them), nor twice.
    assert.equal(
      workspace.devicesFor('file:///w/devices.mmh').some((d) => d.name === 'mydev'),
      false,
    );
    const doc = new HookDocument(USES, workspace.devicesFor('file:///w/uses.mmh'));
    const register = USES.indexOf('CTRL') + 1;
    assert.equal(definitionAt(doc, register), undefined);
    assert.deepEqual(referenceAt(doc, register), { device: 'mydev', register: 'CTRL' });
    const location = workspace.declarationElsewhere('file:///w/uses.mmh', 'mydev', 'CTRL');
    assert.equal(location?.uri, 'file:///w/devices.mmh');
    assert.equal(DEVICES_FILE.slice(location?.start, location?.end), 'CTRL');
    const device = workspace.declarationElsewhere('file:///w/uses.mmh', 'MYDEV');
    assert.equal(DEVICES_FILE.slice(device?.start, device?.end), 'mydev');
    assert.equal(hoverAt(doc, register)?.markdown.includes('control'), true);
    // Unchanged declarations (a comment added) leave the other files' analyses valid.
    assert.equal(workspace.set('file:///w/devices.mmh', `# devices\n${DEVICES_FILE}`, false), false);
    // An open document is not replaced by its copy on disk.
    assert.equal(workspace.set('file:///w/uses.mmh', 'garbage', false), false);
    assert.equal(workspace.isOpen('file:///w/uses.mmh'), true);
    assert.equal(workspace.delete('file:///w/devices.mmh'), true);
    assert.match(diagnosticsFor(USES, workspace.devicesFor('file:///w/uses.mmh'))[0]?.message ?? '', /unknown device/);
  });
});
