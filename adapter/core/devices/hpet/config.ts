/**
 * HPET configurations: the two presets (`ich`, `qemu`), custom values, validation and the parser used by the
 * command line (`--hpet ich`, `--hpet qemu,timers=8`) and the launch configuration (`"hpet": {...}`).
 */

/** Capabilities of one comparator (the read-only bits of Tn_CONF_CAP). */
export interface HpetTimerCapabilities {
  /** Tn_PER_INT_CAP: periodic mode supported. */
  readonly periodic: boolean;
  /** Tn_SIZE_CAP: 64-bit comparator. */
  readonly comparator64: boolean;
  /** Tn_FSB_INT_DEL_CAP: FSB (MSI) delivery supported. */
  readonly fsb: boolean;
  /** Tn_INT_ROUTE_CAP: bit k set means I/O APIC input k is a legal Tn_INT_ROUTE_CNF value. */
  readonly routeCap: number;
}

/** A complete, validated HPET configuration. */
export interface HpetConfig {
  /** Preset the configuration started from (`custom` values may still have changed it). */
  readonly preset: HpetPresetName;
  readonly vendorId: number;
  readonly revision: number;
  readonly counterBits: 32 | 64;
  /** COUNTER_CLK_PERIOD in femtoseconds. */
  readonly periodFs: number;
  readonly legacyCapable: boolean;
  readonly timers: readonly HpetTimerCapabilities[];
}

export type HpetPresetName = 'ich' | 'qemu';
export const HPET_PRESET_NAMES: readonly HpetPresetName[] = ['ich', 'qemu'];

/** Which timers have a capability: every timer, only timer 0, or none. */
export type TimerSelection = 'all' | 'first' | 'none';

/** Custom values on top of a preset; every field is optional. */
export interface HpetOptions {
  readonly preset?: HpetPresetName;
  readonly timers?: number;
  readonly counterBits?: number;
  readonly periodFs?: number;
  readonly vendorId?: number;
  readonly revision?: number;
  readonly legacyCapable?: boolean;
  /** Tn_INT_ROUTE_CAP for every timer (replaces the preset's per-timer masks). */
  readonly routeCap?: number;
  /** Tn_FSB_INT_DEL_CAP on every timer or none. */
  readonly fsb?: boolean;
  readonly periodic?: TimerSelection;
  /** Which timers have 64-bit comparators (only with a 64-bit main counter). */
  readonly comparator64?: TimerSelection;
}

export class HpetConfigError extends Error {
  override readonly name = 'HpetConfigError';
}

/** The spec's slowest legal counter: 10^8 fs = 100 ns per tick (10 MHz). */
export const HPET_MAX_PERIOD_FS = 100_000_000;
export const HPET_MAX_TIMERS = 32;

interface PresetDefinition {
  readonly vendorId: number;
  readonly revision: number;
  readonly counterBits: 32 | 64;
  readonly periodFs: number;
  readonly legacyCapable: boolean;
  readonly timerCount: number;
  readonly periodic: TimerSelection;
  readonly comparator64: TimerSelection;
  readonly fsb: boolean;
  readonly routeCap: (timer: number) => number;
}

/**
 * Intel PCH/NM10 route capabilities: timers 0 and 1 reach I/O APIC inputs 20-23, timer 2 also 11, timer 3
 * also 12 (Intel NM10 and Xeon D-1500 PCH datasheets, TIMn_CONF bits 63:32).
 */
function ichRouteCap(timer: number): number {
  const irq20to23 = 0x00f00000;
  if (timer === 2) return irq20to23 | (1 << 11);
  if (timer === 3) return irq20to23 | (1 << 12);
  return irq20to23;
}

/**
 * QEMU's default `hpet-intcap` on the i440FX `pc` machine (GSI 2 only, as qemu-system-i386 -machine pc reports;
 * q35 sets 0x00ff0104). Our machine is an i440FX-style PC, so the preset follows `pc`.
 */
const QEMU_PC_ROUTE_CAP = 0x00000004;

const PRESETS: Record<HpetPresetName, PresetDefinition> = {
  ich: {
    vendorId: 0x8086,
    revision: 1,
    counterBits: 32,
    periodFs: 69_841_279,
    legacyCapable: true,
    timerCount: 4,
    periodic: 'first',
    comparator64: 'first',
    fsb: false,
    routeCap: ichRouteCap,
  },
  qemu: {
    vendorId: 0x8086,
    revision: 1,
    counterBits: 64,
    periodFs: 10_000_000,
    legacyCapable: true,
    timerCount: 3,
    periodic: 'all',
    comparator64: 'all',
    fsb: false,
    routeCap: () => QEMU_PC_ROUTE_CAP,
  },
};

function selected(selection: TimerSelection, timer: number): boolean {
  return selection === 'all' || (selection === 'first' && timer === 0);
}

function requireInteger(name: string, value: number, min: number, max: number, unit = ''): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    const shown = Number.isFinite(value) ? String(value) : 'not a number';
    throw new HpetConfigError(`hpet: ${name} must be an integer from ${min} to ${max}${unit}, got ${shown}`);
  }
  return value;
}

/** Builds and validates a configuration from a preset plus custom values. */
export function makeHpetConfig(options: HpetOptions = {}): HpetConfig {
  const presetName = options.preset ?? 'ich';
  const preset = PRESETS[presetName] as PresetDefinition | undefined;
  if (!preset) {
    throw new HpetConfigError(`hpet: unknown preset '${String(presetName)}' (known: ${HPET_PRESET_NAMES.join(', ')})`);
  }
  const timerCount = requireInteger('timers', options.timers ?? preset.timerCount, 1, HPET_MAX_TIMERS);
  const counterBits = options.counterBits ?? preset.counterBits;
  if (counterBits !== 32 && counterBits !== 64) {
    throw new HpetConfigError(`hpet: counter size must be 32 or 64 bits, got ${counterBits}`);
  }
  const periodFs = requireInteger(
    'period',
    options.periodFs ?? preset.periodFs,
    1,
    HPET_MAX_PERIOD_FS,
    ' fs (10 MHz or faster)',
  );
  const vendorId = requireInteger('vendor', options.vendorId ?? preset.vendorId, 0, 0xffff);
  const revision = requireInteger('revision', options.revision ?? preset.revision, 1, 0xff);
  if (options.routeCap !== undefined) requireInteger('routes', options.routeCap, 0, 0xffffffff);
  const periodic = options.periodic ?? preset.periodic;
  const comparator64 = options.comparator64 ?? preset.comparator64;
  for (const [name, value] of [
    ['periodic', periodic],
    ['comparator64', comparator64],
  ] as const) {
    if (value !== 'all' && value !== 'first' && value !== 'none') {
      throw new HpetConfigError(`hpet: ${name} must be all, first or none, got '${String(value)}'`);
    }
  }
  if (periodic === 'none') {
    throw new HpetConfigError('hpet: at least one timer must support periodic mode (periodic=all or periodic=first)');
  }
  const fsb = options.fsb ?? preset.fsb;
  const timers: HpetTimerCapabilities[] = [];
  for (let i = 0; i < timerCount; i++) {
    timers.push({
      periodic: selected(periodic, i),
      comparator64: counterBits === 64 && selected(comparator64, i),
      fsb,
      routeCap: (options.routeCap ?? preset.routeCap(i)) >>> 0,
    });
  }
  return {
    preset: presetName,
    vendorId,
    revision,
    counterBits,
    periodFs,
    legacyCapable: options.legacyCapable ?? preset.legacyCapable,
    timers,
  };
}

export function hpetPreset(name: HpetPresetName): HpetConfig {
  return makeHpetConfig({ preset: name });
}

/** Counter frequency as Linux prints it: (10^15 + period/2) / period Hz, shown in MHz with six decimals. */
export function describeFrequency(periodFs: number): string {
  const hz = Math.floor((1e15 + Math.floor(periodFs / 2)) / periodFs);
  return `${Math.floor(hz / 1e6)}.${String(hz % 1e6).padStart(6, '0')} MHz`;
}

/** One-line summary in the style of Linux's boot message. */
export function summarizeHpetConfig(config: HpetConfig): string {
  return `${config.timers.length} comparators, ${config.counterBits}-bit ${describeFrequency(config.periodFs)} counter`;
}

type OptionKey = keyof HpetOptions;

/** Accepted spellings of each option, in the command-line form and in launch.json objects. */
const KEY_ALIASES: Record<string, OptionKey> = {
  preset: 'preset',
  timers: 'timers',
  counter: 'counterBits',
  counterbits: 'counterBits',
  period: 'periodFs',
  periodfs: 'periodFs',
  vendor: 'vendorId',
  vendorid: 'vendorId',
  rev: 'revision',
  revision: 'revision',
  legacy: 'legacyCapable',
  legacycapable: 'legacyCapable',
  routes: 'routeCap',
  routecap: 'routeCap',
  fsb: 'fsb',
  periodic: 'periodic',
  comparator64: 'comparator64',
};

const BOOLEAN_WORDS: Record<string, boolean> = {
  true: true,
  on: true,
  yes: true,
  '1': true,
  false: false,
  off: false,
  no: false,
  '0': false,
};

function parseNumber(key: string, text: string): number {
  const trimmed = text.trim().replace(/_/g, '');
  const value = /^0x[0-9a-f]+$/i.test(trimmed) ? parseInt(trimmed, 16) : /^\d+$/.test(trimmed) ? Number(trimmed) : NaN;
  if (Number.isNaN(value))
    throw new HpetConfigError(`hpet: ${key} expects a number (decimal or 0x hex), got '${text}'`);
  return value;
}

function convertValue(key: OptionKey, spelled: string, raw: unknown): unknown {
  switch (key) {
    case 'preset':
    case 'periodic':
    case 'comparator64':
      if (typeof raw !== 'string')
        throw new HpetConfigError(`hpet: ${spelled} expects a word, got ${JSON.stringify(raw)}`);
      return raw.trim().toLowerCase();
    case 'legacyCapable':
    case 'fsb': {
      if (typeof raw === 'boolean') return raw;
      const word = typeof raw === 'string' ? BOOLEAN_WORDS[raw.trim().toLowerCase()] : undefined;
      if (word === undefined)
        throw new HpetConfigError(`hpet: ${spelled} expects on/off (true/false), got ${JSON.stringify(raw)}`);
      return word;
    }
    default:
      if (typeof raw === 'number') return raw;
      if (typeof raw === 'string') return parseNumber(spelled, raw);
      throw new HpetConfigError(`hpet: ${spelled} expects a number, got ${JSON.stringify(raw)}`);
  }
}

function optionsFromEntries(entries: Iterable<readonly [string, unknown]>): HpetOptions {
  const options: Record<string, unknown> = {};
  for (const [spelled, raw] of entries) {
    const key = KEY_ALIASES[spelled.trim().toLowerCase()];
    if (!key) {
      throw new HpetConfigError(
        `hpet: unknown option '${spelled}' (known: preset, timers, counter, period, vendor, rev, legacy, routes, fsb, periodic, comparator64)`,
      );
    }
    if (key in options) throw new HpetConfigError(`hpet: option '${spelled}' given twice`);
    options[key] = convertValue(key, spelled, raw);
  }
  return options;
}

/**
 * Parses the command-line form: a preset name (`ich`, `qemu`), `key=value` pairs separated by commas, or a
 * preset name followed by pairs (`qemu,timers=8,fsb=on`).
 */
export function parseHpetSpec(text: string): HpetConfig {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw new HpetConfigError(`hpet: empty specification (use ich, qemu or key=value,...)`);
  const entries: [string, unknown][] = [];
  parts.forEach((part, index) => {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (index !== 0)
        throw new HpetConfigError(`hpet: '${part}' is not key=value (only the first item may be a preset name)`);
      entries.push(['preset', part]);
    } else {
      entries.push([part.slice(0, eq), part.slice(eq + 1)]);
    }
  });
  return makeHpetConfig(optionsFromEntries(entries));
}

/** Parses a launch-configuration value: a string as for the command line, or an object of options. */
export function parseHpetOption(value: unknown): HpetConfig {
  if (value === undefined || value === null) return makeHpetConfig();
  if (typeof value === 'string') return parseHpetSpec(value);
  if (typeof value === 'object' && !Array.isArray(value))
    return makeHpetConfig(optionsFromEntries(Object.entries(value)));
  throw new HpetConfigError(`hpet: expected a preset name, 'key=value,...' or an object, got ${JSON.stringify(value)}`);
}
