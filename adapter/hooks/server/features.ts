/**
 * The hook-language server's features as plain functions over text offsets: diagnostics, completion, hover and
 * go-to-definition. They use the same lexer, parser and checker as the debug adapter and know nothing of the
 * LSP connection, so they can be tested directly.
 */
import type { DeviceDescription, FieldDescription, RegisterDescription } from '../../core/regs/describe';
import { explainField, fieldMask, findField, findRegister, formatHex, getField } from '../../core/regs/describe';
import type { DeviceDecl } from '../ast';
import { checkSource } from '../checker';
import type { Diagnostic, SourceRange } from '../diagnostics';
import type { Token } from '../lexer';
import { tokenize } from '../lexer';
import { parse } from '../parser';
import { ACCESS_INFO } from '../types';
import type { DecodedRegisterView } from './protocol';
import { registerView } from '../../core/regs/view';

export type CompletionKind = 'device' | 'register' | 'field' | 'keyword' | 'variable' | 'method' | 'snippet';

export interface Completion {
  readonly label: string;
  readonly kind: CompletionKind;
  readonly detail?: string;
  readonly documentation?: string;
  /** Snippet text (LSP snippet syntax) when it differs from the label. */
  readonly insertSnippet?: string;
}

export interface HoverResult {
  readonly markdown: string;
  /** Offsets of the hovered token. */
  readonly start: number;
  readonly end: number;
}

export interface DefinitionResult {
  readonly start: number;
  readonly end: number;
}

interface HookContext {
  readonly device: string | undefined;
  readonly register: string | undefined;
  /** Offset of the `on` keyword. */
  readonly start: number;
  /** Offset of the body's `{` (undefined while the header is being typed). */
  readonly bodyStart: number | undefined;
  readonly end: number;
}

interface DeclaredSymbol {
  readonly kind: 'device' | 'register' | 'field' | 'state';
  readonly name: string;
  readonly device?: string;
  readonly register?: string;
  readonly start: number;
  readonly end: number;
}

/** One analysed version of a hook file. */
export class HookDocument {
  readonly tokens: readonly Token[];
  readonly devices: readonly DeviceDescription[];
  readonly declaredDevices: readonly DeviceDescription[];
  private readonly hooks: readonly HookContext[];
  private readonly symbols: readonly DeclaredSymbol[];
  private readonly deviceDecls: ReadonlyMap<string, DeviceDecl>;

  constructor(
    readonly text: string,
    machineDevices: readonly DeviceDescription[],
  ) {
    this.tokens = tokenize(text, []);
    const { program } = parse(text);
    const decls = program.items.filter((i): i is DeviceDecl => i.kind === 'device');
    this.deviceDecls = new Map(decls.map((d) => [d.name.toLowerCase(), d]));
    this.declaredDevices = decls.map(describeDecl);
    const byName = new Map<string, DeviceDescription>();
    for (const d of machineDevices) byName.set(d.name.toLowerCase(), d);
    for (const d of this.declaredDevices) byName.set(d.name.toLowerCase(), d);
    this.devices = [...byName.values()];
    this.hooks = scanHooks(this.tokens);
    this.symbols = scanSymbols(this.tokens);
  }

  device(name: string): DeviceDescription | undefined {
    const lower = name.toLowerCase();
    return this.devices.find((d) => d.name.toLowerCase() === lower);
  }

  /** `hpet.GCAP_ID` → the register and its device. */
  qualifiedRegister(name: string): { device: DeviceDescription; register: RegisterDescription } | undefined {
    const dot = name.indexOf('.');
    if (dot < 0) return undefined;
    const device = this.device(name.slice(0, dot));
    const register = device && findRegister(device, name.slice(dot + 1));
    return device && register ? { device, register } : undefined;
  }

  /** The hook whose header or body contains the offset. */
  hookAt(offset: number): HookContext | undefined {
    return this.hooks.find((h) => offset >= h.start && offset <= h.end);
  }

  /** The register of the hook around the offset (`on read hpet.GCAP_ID { ... }`), if any. */
  contextRegister(offset: number): RegisterDescription | undefined {
    const hook = this.hookAt(offset);
    if (!hook?.device || !hook.register) return undefined;
    const device = this.device(hook.device);
    return device && findRegister(device, hook.register);
  }

  tokenIndexAt(offset: number): number {
    return this.tokens.findIndex(
      (t) => t.kind !== 'eof' && offset >= t.range.start.offset && offset <= t.range.end.offset,
    );
  }

  symbolsNamed(kind: DeclaredSymbol['kind'], name: string): DeclaredSymbol[] {
    const lower = name.toLowerCase();
    return this.symbols.filter((s) => s.kind === kind && s.name.toLowerCase() === lower);
  }

  isDeclaredDevice(name: string): boolean {
    return this.deviceDecls.has(name.toLowerCase());
  }
}

/** Checker diagnostics against the machine's devices (the checker adds the file's own declarations). */
export function diagnosticsFor(text: string, machineDevices: readonly DeviceDescription[]): readonly Diagnostic[] {
  return checkSource(text, machineDevices).diagnostics;
}

function describeDecl(decl: DeviceDecl): DeviceDescription {
  return {
    name: decl.name,
    title: decl.title,
    space: decl.space,
    base: decl.base,
    size: decl.size,
    registers: decl.registers.map((r) => ({
      name: r.name,
      offset: r.offset,
      width: r.width,
      access: r.access,
      doc: r.doc,
      fields: r.fields.map((f) => ({ name: f.name, lsb: f.lsb, msb: f.msb, access: f.access ?? r.access, doc: f.doc })),
    })),
  };
}

function isPunct(t: Token | undefined, text: string): boolean {
  return t?.kind === 'punct' && t.text === text;
}

function isWord(t: Token | undefined, text: string): boolean {
  return t?.kind === 'ident' && t.text === text;
}

const DIRECTIONS = new Set(['read', 'write', 'access']);

function scanHooks(tokens: readonly Token[]): HookContext[] {
  const hooks: HookContext[] = [];
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (isPunct(t, '{')) depth++;
    else if (isPunct(t, '}')) depth = Math.max(0, depth - 1);
    if (depth !== 0 || !isWord(t, 'on')) continue;
    let j = i + 1;
    while (j < tokens.length && (DIRECTIONS.has(tokens[j].text) || isPunct(tokens[j], '|'))) j++;
    let device: string | undefined;
    let register: string | undefined;
    if (tokens[j]?.kind === 'ident' && tokens[j].text !== 'port') {
      device = tokens[j].text;
      if (isPunct(tokens[j + 1], '.') && tokens[j + 2]?.kind === 'ident') register = tokens[j + 2].text;
    }
    // The header runs to the body's `{`, or to the next top-level keyword while it is being typed.
    let k = j;
    while (k < tokens.length && !isPunct(tokens[k], '{') && tokens[k].kind !== 'eof') {
      if (k > j && tokens[k].range.start.column === 1 && /^(on|device|var)$/.test(tokens[k].text)) break;
      k++;
    }
    let end: number;
    let bodyStart: number | undefined;
    if (isPunct(tokens[k], '{')) {
      bodyStart = tokens[k].range.start.offset;
      let inner = 0;
      let m = k;
      for (; m < tokens.length; m++) {
        if (isPunct(tokens[m], '{')) inner++;
        else if (isPunct(tokens[m], '}') && --inner === 0) break;
        // An unclosed body ends before the next top-level keyword at column 1.
        if (m > k && tokens[m].range.start.column === 1 && /^(on|device)$/.test(tokens[m].text)) {
          m--;
          break;
        }
      }
      const last = tokens[Math.min(m, tokens.length - 1)];
      end = last.range.end.offset;
      i = Math.min(m, tokens.length - 1);
      if (isPunct(last, '}')) depth = 0;
    } else {
      end = tokens[Math.max(j, k - 1)]?.range.end.offset ?? t.range.end.offset;
      i = Math.max(i, k - 1);
    }
    hooks.push({ device, register, start: t.range.start.offset, bodyStart, end });
  }
  return hooks;
}

function scanSymbols(tokens: readonly Token[]): DeclaredSymbol[] {
  const symbols: DeclaredSymbol[] = [];
  let depth = 0;
  let device: string | undefined;
  let deviceDepth = -1;
  let register: string | undefined;
  for (let i = 0; i < tokens.length - 1; i++) {
    const t = tokens[i];
    const name = tokens[i + 1];
    if (isPunct(t, '{')) depth++;
    else if (isPunct(t, '}')) {
      depth = Math.max(0, depth - 1);
      if (depth <= deviceDepth) device = undefined;
      if (depth <= deviceDepth + 1) register = undefined;
    }
    if (t.kind !== 'ident' || name.kind !== 'ident') continue;
    const at = { start: name.range.start.offset, end: name.range.end.offset };
    if (t.text === 'device' && depth === 0) {
      device = name.text;
      deviceDepth = 0;
      register = undefined;
      symbols.push({ kind: 'device', name: name.text, ...at });
    } else if (t.text === 'register' && device !== undefined) {
      register = name.text;
      symbols.push({ kind: 'register', name: name.text, device, ...at });
    } else if (t.text === 'field' && device !== undefined && register !== undefined) {
      symbols.push({ kind: 'field', name: name.text, device, register, ...at });
    } else if (t.text === 'var' && depth === 0) {
      symbols.push({ kind: 'state', name: name.text, ...at });
    }
  }
  return symbols;
}

// ---- completion ----------------------------------------------------------------------------------------------

const TOP_LEVEL_KEYWORDS: Completion[] = [
  {
    label: 'on read',
    kind: 'snippet',
    detail: 'read hook',
    insertSnippet: 'on read ${1:hpet}.${2:GCAP_ID} {\n\tvalue = device.read()\n\t$0\n\thandled\n}',
  },
  {
    label: 'on write',
    kind: 'snippet',
    detail: 'write hook',
    insertSnippet: 'on write ${1:hpet}.${2:GEN_CONF} {\n\t$0\n}',
  },
  { label: 'on', kind: 'keyword', detail: 'hook: on DIRECTION TARGET { ... }' },
  { label: 'var', kind: 'keyword', detail: 'state variable shared by the hooks of this file' },
  {
    label: 'device',
    kind: 'snippet',
    detail: 'device declaration',
    insertSnippet:
      'device ${1:mydev} at ${2:0xfe000000} size ${3:0x1000} "${4:My device}" {\n\tregister ${5:CTRL} at 0x0 width 32 rw "${6:control}"\n}',
  },
];

const STATEMENT_KEYWORDS: readonly [string, string][] = [
  ['var', 'local variable'],
  ['if', 'if cond { ... } else { ... }'],
  ['else', 'else branch'],
  ['for', 'for i in 0..n { ... }'],
  ['log', 'log "text {expr}" to the debug console and the trace'],
  ['break', 'break "reason": stop the guest after this access'],
  ['emulate', 'end: let the access happen (BitVisor: return 0)'],
  ['handled', 'end: the hook did everything (BitVisor: return non-zero)'],
  ['true', 'boolean'],
  ['false', 'boolean'],
];

const DECLARATION_KEYWORDS = ['register', 'field', 'at', 'width', 'size', 'ro', 'rw', 'wo', 'w1c', 'w1s', 'rc', 'rsvd'];

function registerCompletion(r: RegisterDescription): Completion {
  return {
    label: r.name,
    kind: 'register',
    detail: `${r.width}-bit ${r.access} at +0x${r.offset.toString(16)}`,
    documentation: r.doc,
  };
}

function fieldCompletion(f: FieldDescription): Completion {
  return { label: f.name, kind: 'field', detail: `${bitRange(f)} ${f.access}`, documentation: f.doc };
}

function deviceCompletion(d: DeviceDescription): Completion {
  return {
    label: d.name,
    kind: 'device',
    detail: `${d.title} (${d.space === 'pio' ? 'port ' : ''}0x${d.base.toString(16)})`,
    documentation: d.doc ?? d.title,
  };
}

export function completionsAt(doc: HookDocument, offset: number): Completion[] {
  // Tokens that end before the cursor; a word being typed is not part of the context.
  let i = doc.tokens.findIndex((t) => t.kind === 'eof' || t.range.end.offset >= offset);
  if (i < 0) i = doc.tokens.length - 1;
  const current = doc.tokens[i];
  const typing = current.kind === 'ident' && current.range.start.offset < offset;
  const prevIndex = typing || current.range.start.offset >= offset ? i - 1 : i;
  const prev = doc.tokens[prevIndex];
  const before = doc.tokens[prevIndex - 1];

  if (isPunct(prev, '.') && before?.kind === 'ident') {
    const device = doc.device(before.text);
    if (device && !isVariableName(doc, before.text, offset))
      return device.registers.filter((r) => !r.internal).map(registerCompletion);
    if (before.text === 'device') {
      return [
        {
          label: 'read',
          kind: 'method',
          detail: 'device.read()',
          insertSnippet: 'read()',
          documentation: 'read hooks: perform the real device read, returns its value',
        },
        {
          label: 'write',
          kind: 'method',
          detail: 'device.write(v)',
          insertSnippet: 'write(${1:value})',
          documentation: 'write hooks: perform the real device write of v',
        },
      ];
    }
    const register = doc.contextRegister(offset);
    return register ? register.fields.filter((f) => f.access !== 'RSVD').map(fieldCompletion) : [];
  }

  const hook = doc.hookAt(offset);
  if (hook && (hook.bodyStart === undefined || offset <= hook.bodyStart)) {
    if (prev?.kind === 'ident' && DIRECTIONS.has(prev.text)) {
      return [
        ...doc.devices.map(deviceCompletion),
        { label: 'port', kind: 'keyword', detail: 'port I/O range: port 0x3f8 len 1' },
      ];
    }
    if (isWord(prev, 'on') || isPunct(prev, '|')) {
      return ['read', 'write', 'access'].map((d) => ({
        label: d,
        kind: 'keyword' as const,
        detail: 'access direction',
      }));
    }
    if (prev?.kind === 'number') return [{ label: 'len', kind: 'keyword', detail: 'length of the range in bytes' }];
    return [];
  }
  if (hook) {
    const register = doc.contextRegister(offset);
    const out: Completion[] = STATEMENT_KEYWORDS.map(([label, detail]) => ({ label, kind: 'keyword', detail }));
    out.push({
      label: 'value',
      kind: 'variable',
      detail: register ? `${register.name} value (register coordinates)` : 'data of the access',
    });
    out.push({ label: 'device', kind: 'variable', detail: 'device.read() / device.write(v)' });
    for (const [name, info] of Object.entries(ACCESS_INFO))
      out.push({ label: name, kind: 'variable', detail: info.type, documentation: info.doc });
    for (const s of stateSymbols(doc)) out.push({ label: s, kind: 'variable', detail: 'state variable' });
    return out;
  }
  if (insideDeviceDeclaration(doc, offset)) return DECLARATION_KEYWORDS.map((label) => ({ label, kind: 'keyword' }));
  return TOP_LEVEL_KEYWORDS;
}

function stateSymbols(doc: HookDocument): string[] {
  const names: string[] = [];
  let depth = 0;
  for (let i = 0; i < doc.tokens.length - 1; i++) {
    const t = doc.tokens[i];
    if (isPunct(t, '{')) depth++;
    else if (isPunct(t, '}')) depth--;
    else if (depth === 0 && isWord(t, 'var') && doc.tokens[i + 1].kind === 'ident') names.push(doc.tokens[i + 1].text);
  }
  return names;
}

function isVariableName(doc: HookDocument, name: string, offset: number): boolean {
  if (name === 'value') return true;
  return doc.hookAt(offset) !== undefined && stateSymbols(doc).includes(name);
}

function insideDeviceDeclaration(doc: HookDocument, offset: number): boolean {
  let depth = 0;
  let inDevice = false;
  for (const t of doc.tokens) {
    if (t.range.start.offset >= offset) break;
    if (depth === 0 && isWord(t, 'device')) inDevice = true;
    else if (depth === 0 && isWord(t, 'on')) inDevice = false;
    if (isPunct(t, '{')) depth++;
    else if (isPunct(t, '}') && --depth === 0) inDevice = false;
  }
  return inDevice && depth > 0;
}

// ---- hover -----------------------------------------------------------------------------------------------------

export function bitRange(f: { lsb: number; msb: number }): string {
  return f.msb === f.lsb ? `[${f.lsb}]` : `[${f.msb}:${f.lsb}]`;
}

function showFieldValue(f: FieldDescription, v: bigint): string {
  if (f.format === 'dec' || f.msb === f.lsb || v < 10n) return v.toString();
  return '0x' + v.toString(16);
}

/** Decodes a value as a register into a markdown table: field, bits, value, meaning. */
export function decodeMarkdown(deviceName: string, register: RegisterDescription, value: bigint): string {
  const lines = [
    `**${deviceName}.${register.name}** = \`${formatHex(value, register.width)}\``,
    '',
    '| field | bits | value | meaning |',
    '| --- | --- | --- | --- |',
  ];
  for (const f of register.fields) {
    if (f.access === 'RSVD') continue;
    const v = getField(value, f);
    lines.push(`| ${f.name} | ${bitRange(f)} | ${showFieldValue(f, v)} | ${explainField(f, v) ?? ''} |`);
  }
  return lines.join('\n');
}

export function decodeRegister(register: RegisterDescription, value: bigint): DecodedRegisterView {
  return registerView(register, value);
}

function registerMarkdown(device: DeviceDescription, r: RegisterDescription): string {
  const address = device.base + r.offset;
  const where = r.internal
    ? 'internal state (not at an address)'
    : `${device.space === 'pio' ? 'port ' : ''}0x${address.toString(16)} (+0x${r.offset.toString(16)})`;
  const lines = [`**${device.name}.${r.name}** — ${r.width}-bit, ${r.access}, ${where}`, '', r.doc];
  if (r.reset !== undefined) lines.push('', `Reset value: \`${formatHex(r.reset, r.width)}\``);
  if (r.fields.length) {
    lines.push('', '| field | bits | access | description |', '| --- | --- | --- | --- |');
    for (const f of r.fields)
      if (f.access !== 'RSVD') lines.push(`| ${f.name} | ${bitRange(f)} | ${f.access} | ${f.doc} |`);
  }
  return lines.join('\n');
}

function fieldMarkdown(r: RegisterDescription, f: FieldDescription): string {
  const lines = [
    `**${r.name}.${f.name}** — bits ${bitRange(f)}, ${f.access}`,
    '',
    f.doc,
    '',
    `Mask: \`${formatHex(fieldMask(f), r.width)}\``,
  ];
  if (f.enum?.length) {
    lines.push('', ...f.enum.map((e) => `- \`${e.value}\` ${e.name}${e.doc ? ` — ${e.doc}` : ''}`));
  }
  return lines.join('\n');
}

function deviceMarkdown(d: DeviceDescription): string {
  const at = `${d.space === 'pio' ? 'ports' : 'MMIO'} 0x${d.base.toString(16)}–0x${(d.base + d.size - 1).toString(16)}`;
  const regs = d.registers.filter((r) => !r.internal).map((r) => r.name);
  return [
    `**${d.name}** — ${d.title}`,
    '',
    at,
    '',
    `Registers: ${regs.join(', ')}`,
    ...(d.doc ? ['', d.doc] : []),
  ].join('\n');
}

const KEYWORD_DOCS: Record<string, string> = {
  emulate:
    'Ends the hook and lets the access happen (BitVisor: the handler returns 0). On a read the guest gets the device value; changes to `value` are dropped.',
  handled:
    'Ends the hook: nothing more happens (BitVisor: the handler returns non-zero). On a read the guest gets `value`.',
  log: '`log "text {expr}"` writes to the debug console and the MMIO trace. `{e:x}` hex, `{e:d}` decimal, `{e:b}` binary, `{v:fields}` decoded fields.',
  break: '`break "reason"` stops the guest after this access, with the reason in the stop message.',
  on: 'A hook: `on read|write|access TARGET { statements }`.',
};

/** The register and field named by `X.F` where X is `value` or a register-valued name in a register hook. */
function fieldInContext(
  doc: HookDocument,
  offset: number,
  name: string,
): { r: RegisterDescription; f: FieldDescription } | undefined {
  const r = doc.contextRegister(offset);
  const f = r && findField(r, name);
  if (r && f) return { r, f };
  for (const d of doc.declaredDevices)
    for (const reg of d.registers) {
      const field = findField(reg, name);
      if (field) return { r: reg, f: field };
    }
  return undefined;
}

export function hoverAt(doc: HookDocument, offset: number): HoverResult | undefined {
  const i = doc.tokenIndexAt(offset);
  if (i < 0) return undefined;
  const t = doc.tokens[i];
  const at = { start: t.range.start.offset, end: t.range.end.offset };
  const prev = doc.tokens[i - 1];
  const before = doc.tokens[i - 2];

  if (t.kind === 'number' && t.value !== undefined) {
    return numberHover(doc, i, offset, at);
  }
  if (t.kind !== 'ident') return undefined;

  if (isPunct(prev, '.') && before?.kind === 'ident') {
    const device = doc.device(before.text);
    if (device && !isVariableName(doc, before.text, offset)) {
      const r = findRegister(device, t.text);
      return r ? { markdown: registerMarkdown(device, r), ...at } : undefined;
    }
    if (before.text === 'device') {
      const what =
        t.text === 'read'
          ? 'Performs the real device read for this part of the access and returns its value.'
          : 'Performs the real device write of the given value for this part of the access.';
      return { markdown: `**device.${t.text}()** — ${what}`, ...at };
    }
    const found = fieldInContext(doc, offset, t.text);
    return found ? { markdown: fieldMarkdown(found.r, found.f), ...at } : undefined;
  }
  // Declarations: `register NAME` and `field NAME` inside a device declaration.
  if (isWord(prev, 'register') || isWord(prev, 'field')) {
    const symbol = doc
      .symbolsNamed(prev.text === 'register' ? 'register' : 'field', t.text)
      .find((s) => s.start === at.start);
    const device = symbol?.device ? doc.device(symbol.device) : undefined;
    const r = device && findRegister(device, symbol?.register ?? t.text);
    if (device && r && prev.text === 'register') return { markdown: registerMarkdown(device, r), ...at };
    const f = r && findField(r, t.text);
    if (r && f) return { markdown: fieldMarkdown(r, f), ...at };
    return undefined;
  }
  const device = doc.device(t.text);
  if (
    device &&
    (isPunct(doc.tokens[i + 1], '.') ||
      isWord(prev, 'device') ||
      DIRECTIONS.has(prev?.text ?? '') ||
      isPunct(prev, '|'))
  ) {
    if (!isVariableName(doc, t.text, offset)) return { markdown: deviceMarkdown(device), ...at };
  }
  if (t.text === 'value' && doc.hookAt(offset)) {
    const r = doc.contextRegister(offset);
    const text = r
      ? `**value** — the data of the access as a ${r.name} value, in register coordinates (bit n is bit n of the register); fields can be read and assigned by name.`
      : '**value** — the data of the access, at bit 0 of the hooked range.';
    return { markdown: text, ...at };
  }
  const info = (ACCESS_INFO as Record<string, { type: string; doc: string } | undefined>)[t.text];
  if (info && doc.hookAt(offset)) return { markdown: `**${t.text}**: ${info.type} — ${info.doc}`, ...at };
  const keyword = KEYWORD_DOCS[t.text];
  if (keyword) return { markdown: keyword, ...at };
  return undefined;
}

/**
 * A number decodes against the register in context: the field it is assigned to or compared with
 * (`value.NUM_TIM_CAP = 3`), or else the whole register of the enclosing hook.
 */
function numberHover(
  doc: HookDocument,
  i: number,
  offset: number,
  at: { start: number; end: number },
): HoverResult | undefined {
  const value = doc.tokens[i].value!;
  const numeric = `\`${value.toString()}\` = \`0x${value.toString(16)}\``;
  const register = doc.contextRegister(offset);
  const hook = doc.hookAt(offset);
  if (!register || !hook || hook.bodyStart === undefined || offset < hook.bodyStart) {
    return { markdown: numeric, ...at };
  }
  const op = doc.tokens[i - 1];
  const fieldToken = doc.tokens[i - 2];
  if (
    op?.kind === 'punct' &&
    /^(=|==|!=|<|<=|>|>=|\+=|-=|\|=|&=)$/.test(op.text) &&
    fieldToken?.kind === 'ident' &&
    isPunct(doc.tokens[i - 3], '.')
  ) {
    const f = findField(register, fieldToken.text);
    if (f) {
      const meaning = explainField(f, value);
      return {
        markdown: `${numeric}\n\n${register.name}.${f.name} ${bitRange(f)} = ${value}${meaning ? ` (${meaning})` : ''}`,
        ...at,
      };
    }
  }
  const hookDevice = hook.device ?? '';
  return {
    markdown: `${numeric}\n\n${decodeMarkdown(doc.device(hookDevice)?.name ?? hookDevice, register, value)}`,
    ...at,
  };
}

// ---- definition ----------------------------------------------------------------------------------------------

/** Go to the declaration of a user-declared device, register, field or state variable. */
export function definitionAt(doc: HookDocument, offset: number): DefinitionResult | undefined {
  const i = doc.tokenIndexAt(offset);
  if (i < 0) return undefined;
  const t = doc.tokens[i];
  if (t.kind !== 'ident') return undefined;
  const prev = doc.tokens[i - 1];
  const before = doc.tokens[i - 2];
  const pick = (s: DeclaredSymbol | undefined): DefinitionResult | undefined =>
    s ? { start: s.start, end: s.end } : undefined;

  if (isPunct(prev, '.') && before?.kind === 'ident') {
    if (doc.isDeclaredDevice(before.text) && !isVariableName(doc, before.text, offset)) {
      return pick(
        doc.symbolsNamed('register', t.text).find((s) => s.device?.toLowerCase() === before.text.toLowerCase()),
      );
    }
    const hook = doc.hookAt(offset);
    const fields = doc.symbolsNamed('field', t.text);
    const inContext = fields.find(
      (s) =>
        s.device?.toLowerCase() === hook?.device?.toLowerCase() &&
        s.register?.toLowerCase() === hook?.register?.toLowerCase(),
    );
    return pick(inContext ?? fields[0]);
  }
  if (doc.isDeclaredDevice(t.text)) return pick(doc.symbolsNamed('device', t.text)[0]);
  return pick(doc.symbolsNamed('state', t.text)[0]);
}

/**
 * The device, or device register, named at the offset (`mydev` or `mydev.CTRL`), for finding a declaration in
 * another file when this one has none.
 */
export function referenceAt(doc: HookDocument, offset: number): { device: string; register?: string } | undefined {
  const i = doc.tokenIndexAt(offset);
  if (i < 0) return undefined;
  const t = doc.tokens[i];
  if (t.kind !== 'ident') return undefined;
  const prev = doc.tokens[i - 1];
  const before = doc.tokens[i - 2];
  if (isPunct(prev, '.')) {
    if (before?.kind !== 'ident' || isVariableName(doc, before.text, offset)) return undefined;
    return { device: before.text, register: t.text };
  }
  return isVariableName(doc, t.text, offset) ? undefined : { device: t.text };
}

/** Converts a checker range (offsets) to start/end offsets. */
export function rangeOffsets(range: SourceRange): { start: number; end: number } {
  return { start: range.start.offset, end: Math.max(range.end.offset, range.start.offset + 1) };
}
