/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * MMIO Trace webview: a virtualised table over every record received, with device, direction and text filters.
 * Messages are the typed unions of src/trace/messages.ts.
 *
 * Only the rows in view (plus a few above and below) exist in the DOM, as a fixed pool of row elements: visible
 * row v always lives in element v % pool size, so scrolling by a few rows rewrites only the rows that came into
 * view, and an element whose row did not change is not touched. Filters are read once per change, not per
 * record, and a filter that only narrows the previous one (typing more of a word) scans the rows shown rather
 * than every record. bench/trace-webview.ts measures this with 100,000 rows.
 */
import type { HostMessage, TraceRecordView, WebviewMessage } from '../src/trace/messages';

declare function acquireVsCodeApi(): { postMessage(message: WebviewMessage): void };

const vscode = acquireVsCodeApi();
const ROW_HEIGHT = 20;
const OVERSCAN = 8;
const DEFAULT_MAX_RECORDS = 200_000;
const TEXT_DEBOUNCE_MS = 150;
const COLUMNS = 7;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const viewport = $<HTMLDivElement>('viewport');
const spacer = $<HTMLDivElement>('spacer');
const rowsEl = $<HTMLDivElement>('rows');
const deviceSelect = $<HTMLSelectElement>('device');
const directionSelect = $<HTMLSelectElement>('direction');
const textInput = $<HTMLInputElement>('text');
const follow = $<HTMLInputElement>('follow');
const statusEl = $<HTMLSpanElement>('status');

interface Filter {
  readonly device: string;
  /** '' (both), 'r' or 'w'. */
  readonly direction: string;
  /** Lower case, trimmed; '' matches everything. */
  readonly text: string;
}

/** One row element of the pool and what it shows now. */
interface Slot {
  readonly el: HTMLDivElement;
  readonly cells: HTMLSpanElement[];
  readonly texts: string[];
  /** Index into `visible` shown, or -1 when hidden. */
  index: number;
  record: TraceRecordView | undefined;
  className: string;
}

let records: TraceRecordView[] = [];
/** Indices into `records` of the rows that pass `applied`, ascending. */
let visible: number[] = [];
/** The filter `visible` was computed with (the text box may be ahead of it while its debounce runs). */
let applied: Filter = { device: '', direction: '', text: '' };
let maxRecords = DEFAULT_MAX_RECORDS;
let total = 0;
let status = '';
let selectedSeq: number | undefined;
const devices = new Set<string>();
let renderQueued = false;
const slots: Slot[] = [];
const slotOf = new WeakMap<Element, Slot>();
let spacerHeight = -1;
let statusText = '';
const timeFormat = new Intl.NumberFormat('en-US');

function hex(n: number, digits = 8): string {
  return '0x' + n.toString(16).padStart(digits, '0');
}

function target(r: TraceRecordView): string {
  if (r.register) return `${r.device}.${r.register}`;
  const at = r.space === 'pio' ? `port ${hex(r.address, 4)}` : hex(r.address);
  return r.device ? `${r.device} ${at}` : at;
}

function valueText(r: TraceRecordView): string {
  if (r.before !== undefined && r.after !== undefined && r.before !== r.after) return `${r.before} → ${r.after}`;
  return r.after ?? r.before ?? '';
}

function hooksText(r: TraceRecordView): string {
  if (r.decision === 'none') return '';
  return `${r.decision}${r.hooks.length ? ` (${r.hooks.join(', ')})` : ''}`;
}

function tooltip(r: TraceRecordView): string {
  return `#${r.seq} ${r.isWrite ? 'write' : 'read'} ${target(r)}, ${r.size} bytes at ${hex(r.address)}\nEIP ${hex(r.eip)} (click to disassemble)\n${r.fields ?? ''}`;
}

function currentFilter(): Filter {
  return {
    device: deviceSelect.value,
    direction: directionSelect.value,
    text: textInput.value.trim().toLowerCase(),
  };
}

function isEmpty(f: Filter): boolean {
  return !f.device && !f.direction && !f.text;
}

function passes(f: Filter, r: TraceRecordView): boolean {
  if (f.device && r.device !== f.device) return false;
  if (f.direction === 'r' && r.isWrite) return false;
  if (f.direction === 'w' && !r.isWrite) return false;
  if (!f.text) return true;
  const haystack = `${target(r)} ${valueText(r)} ${hooksText(r)} ${r.fields ?? ''} ${hex(r.eip)}`.toLowerCase();
  return haystack.includes(f.text);
}

/** Every record that passes `f` also passes `g`. */
function narrows(f: Filter, g: Filter): boolean {
  return (
    (!g.device || g.device === f.device) && (!g.direction || g.direction === f.direction) && f.text.includes(g.text)
  );
}

function refilter(): void {
  const f = currentFilter();
  if (isEmpty(f)) {
    visible = Array.from({ length: records.length }, (_, i) => i);
  } else if (narrows(f, applied)) {
    visible = visible.filter((i) => passes(f, records[i]));
  } else {
    const next: number[] = [];
    for (let i = 0; i < records.length; i++) if (passes(f, records[i])) next.push(i);
    visible = next;
  }
  applied = f;
  queueRender();
}

function queueRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

function newSlot(): Slot {
  const el = document.createElement('div');
  el.className = 'row';
  el.style.display = 'none';
  const cells: HTMLSpanElement[] = [];
  for (const className of ['', 'eip', 'dir', '', 'value', 'hooks', 'fields']) {
    const span = document.createElement('span');
    if (className) span.className = className;
    cells.push(span);
  }
  el.append(...cells);
  rowsEl.appendChild(el);
  const slot: Slot = { el, cells, texts: Array<string>(COLUMNS).fill(''), index: -1, record: undefined, className: '' };
  slotOf.set(el, slot);
  return slot;
}

function fill(slot: Slot, r: TraceRecordView, index: number): void {
  const texts = [
    timeFormat.format(r.time),
    hex(r.eip),
    r.isWrite ? 'W' : 'R',
    target(r),
    valueText(r),
    hooksText(r),
    r.fields ?? '',
  ];
  for (let c = 0; c < COLUMNS; c++) {
    if (slot.texts[c] === texts[c]) continue;
    slot.texts[c] = texts[c];
    slot.cells[c].textContent = texts[c];
  }
  if (slot.index !== index) slot.el.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
  if (slot.index < 0) slot.el.style.display = '';
  slot.el.dataset.seq = String(r.seq);
  slot.el.dataset.eip = String(r.eip);
  slot.el.removeAttribute('title');
  slot.index = index;
  slot.record = r;
}

function hide(slot: Slot): void {
  if (slot.index < 0) return;
  slot.el.style.display = 'none';
  slot.index = -1;
  slot.record = undefined;
}

function render(): void {
  renderQueued = false;
  const height = visible.length * ROW_HEIGHT;
  if (height !== spacerHeight) {
    spacer.style.height = `${height}px`;
    spacerHeight = height;
  }
  if (follow.checked) viewport.scrollTop = viewport.scrollHeight;
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
  const count = Math.ceil(viewport.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
  const last = Math.min(visible.length, first + count);
  while (slots.length < count) slots.push(newSlot());
  const n = slots.length;
  for (let i = 0; i < n; i++) {
    const slot = slots[i];
    // The one index in [first, first + n) that maps to this slot.
    const v = first + ((((i - first) % n) + n) % n);
    if (v >= last) {
      hide(slot);
      continue;
    }
    const r = records[visible[v]];
    if (slot.index !== v || slot.record !== r) fill(slot, r, v);
    const className = `row ${r.isWrite ? 'write' : 'read'}${r.decision !== 'none' ? ' hooked' : ''}${r.seq === selectedSeq ? ' selected' : ''}`;
    if (slot.className !== className) {
      slot.el.className = className;
      slot.className = className;
    }
  }
  const shown = visible.length === records.length ? `${records.length}` : `${visible.length} of ${records.length}`;
  const text = `${shown} rows${total > records.length ? ` (${total} recorded)` : ''}${status ? ` · ${status}` : ''}`;
  if (text !== statusText) {
    statusEl.textContent = text;
    statusText = text;
  }
}

function addDevice(name: string): void {
  if (!name || devices.has(name)) return;
  devices.add(name);
  const option = document.createElement('option');
  option.value = name;
  option.textContent = name;
  deviceSelect.appendChild(option);
}

function append(incoming: readonly TraceRecordView[]): void {
  const base = records.length;
  const all = isEmpty(applied);
  for (let i = 0; i < incoming.length; i++) {
    const r = incoming[i];
    records.push(r);
    addDevice(r.device);
    if (all || passes(applied, r)) visible.push(base + i);
  }
  if (records.length > maxRecords) dropOldest(records.length - maxRecords);
  queueRender();
}

/** Forgets the `drop` oldest records; the rows in view stay in view unless they were among them. */
function dropOldest(drop: number): void {
  records = records.slice(drop);
  let gone = 0;
  while (gone < visible.length && visible[gone] < drop) gone++;
  visible = visible.slice(gone);
  for (let i = 0; i < visible.length; i++) visible[i] -= drop;
  if (!follow.checked && gone) viewport.scrollTop = Math.max(0, viewport.scrollTop - gone * ROW_HEIGHT);
}

function clearRows(): void {
  records = [];
  visible = [];
  selectedSeq = undefined;
  queueRender();
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const m = event.data;
  switch (m.type) {
    case 'reset':
      clearRows();
      total = 0;
      status = m.status;
      if (m.maxRecords !== undefined && m.maxRecords > 0) maxRecords = m.maxRecords;
      break;
    case 'append':
      total = m.total;
      status = '';
      append(m.records);
      // Acknowledge after this batch is processed; the host sends the next one only then.
      setTimeout(() => vscode.postMessage({ type: 'ack', batch: m.batch }), 0);
      break;
    case 'status':
      status = m.text;
      queueRender();
      break;
  }
});

viewport.addEventListener('scroll', () => {
  const atBottom = viewport.scrollTop + viewport.clientHeight >= viewport.scrollHeight - ROW_HEIGHT;
  if (!atBottom && follow.checked) follow.checked = false;
  queueRender();
});
rowsEl.addEventListener('mouseover', (event) => {
  const row = (event.target as HTMLElement).closest('.row');
  const record = row ? slotOf.get(row)?.record : undefined;
  if (row && record && !row.hasAttribute('title')) row.setAttribute('title', tooltip(record));
});
rowsEl.addEventListener('click', (event) => {
  const row = (event.target as HTMLElement).closest('.row');
  const record = row ? slotOf.get(row)?.record : undefined;
  if (!record) return;
  selectedSeq = record.seq;
  queueRender();
  vscode.postMessage({ type: 'reveal', eip: record.eip });
});
deviceSelect.addEventListener('change', refilter);
directionSelect.addEventListener('change', refilter);
let textTimer: number | undefined;
textInput.addEventListener('input', () => {
  clearTimeout(textTimer);
  textTimer = window.setTimeout(refilter, TEXT_DEBOUNCE_MS);
});
follow.addEventListener('change', queueRender);
$<HTMLButtonElement>('clear').addEventListener('click', () => {
  clearRows();
  vscode.postMessage({ type: 'clear' });
});
window.addEventListener('resize', queueRender);

vscode.postMessage({ type: 'ready' });
