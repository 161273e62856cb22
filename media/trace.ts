/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * MMIO Trace webview: a virtualised table (only the rows in view exist in the DOM) over every record received,
 * with device, direction and text filters. Messages are the typed unions of src/trace/messages.ts.
 */
import type { HostMessage, TraceRecordView, WebviewMessage } from '../src/trace/messages';

declare function acquireVsCodeApi(): { postMessage(message: WebviewMessage): void };

const vscode = acquireVsCodeApi();
const ROW_HEIGHT = 20;
const OVERSCAN = 8;
const MAX_ROWS = 200_000;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const viewport = $<HTMLDivElement>('viewport');
const spacer = $<HTMLDivElement>('spacer');
const rowsEl = $<HTMLDivElement>('rows');
const deviceSelect = $<HTMLSelectElement>('device');
const directionSelect = $<HTMLSelectElement>('direction');
const textInput = $<HTMLInputElement>('text');
const follow = $<HTMLInputElement>('follow');
const statusEl = $<HTMLSpanElement>('status');

let records: TraceRecordView[] = [];
/** Indices into `records` of the rows that pass the filters. */
let visible: number[] = [];
let total = 0;
let status = '';
const devices = new Set<string>();
let renderQueued = false;

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

function matches(r: TraceRecordView): boolean {
  const device = deviceSelect.value;
  if (device && r.device !== device) return false;
  const direction = directionSelect.value;
  if (direction === 'r' && r.isWrite) return false;
  if (direction === 'w' && !r.isWrite) return false;
  const text = textInput.value.trim().toLowerCase();
  if (!text) return true;
  const haystack = `${target(r)} ${valueText(r)} ${hooksText(r)} ${r.fields ?? ''} ${hex(r.eip)}`.toLowerCase();
  return haystack.includes(text);
}

function refilter(): void {
  visible = [];
  for (let i = 0; i < records.length; i++) if (matches(records[i])) visible.push(i);
  queueRender();
}

function queueRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

function render(): void {
  renderQueued = false;
  spacer.style.height = `${visible.length * ROW_HEIGHT}px`;
  if (follow.checked) viewport.scrollTop = viewport.scrollHeight;
  const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
  const count = Math.ceil(viewport.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
  const last = Math.min(visible.length, first + count);
  const fragment = document.createDocumentFragment();
  for (let v = first; v < last; v++) fragment.appendChild(rowElement(records[visible[v]], v));
  rowsEl.replaceChildren(fragment);
  const shown = visible.length === records.length ? `${records.length}` : `${visible.length} of ${records.length}`;
  statusEl.textContent = `${shown} rows${total > records.length ? ` (${total} recorded)` : ''}${status ? ` · ${status}` : ''}`;
}

function cell(text: string, className?: string): HTMLSpanElement {
  const span = document.createElement('span');
  span.textContent = text;
  if (className) span.className = className;
  return span;
}

function rowElement(r: TraceRecordView, index: number): HTMLDivElement {
  const row = document.createElement('div');
  row.className = `row ${r.isWrite ? 'write' : 'read'}${r.decision !== 'none' ? ' hooked' : ''}`;
  row.style.top = `${index * ROW_HEIGHT}px`;
  row.dataset.seq = String(r.seq);
  row.dataset.eip = String(r.eip);
  row.title = `#${r.seq} ${r.isWrite ? 'write' : 'read'} ${target(r)}, ${r.size} bytes at ${hex(r.address)}\nEIP ${hex(r.eip)} (click to disassemble)\n${r.fields ?? ''}`;
  row.append(
    cell(r.time.toLocaleString('en-US')),
    cell(hex(r.eip), 'eip'),
    cell(r.isWrite ? 'W' : 'R', 'dir'),
    cell(target(r)),
    cell(valueText(r), 'value'),
    cell(hooksText(r), 'hooks'),
    cell(r.fields ?? '', 'fields'),
  );
  return row;
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
  for (let i = 0; i < incoming.length; i++) {
    const r = incoming[i];
    records.push(r);
    addDevice(r.device);
    if (matches(r)) visible.push(base + i);
  }
  if (records.length > MAX_ROWS) {
    records = records.slice(records.length - MAX_ROWS);
    refilter();
  }
  queueRender();
}

window.addEventListener('message', (event: MessageEvent<HostMessage>) => {
  const m = event.data;
  switch (m.type) {
    case 'reset':
      records = [];
      visible = [];
      total = 0;
      status = m.status;
      queueRender();
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
rowsEl.addEventListener('click', (event) => {
  const row = (event.target as HTMLElement).closest<HTMLDivElement>('.row');
  if (!row?.dataset.eip) return;
  for (const selected of rowsEl.querySelectorAll('.selected')) selected.classList.remove('selected');
  row.classList.add('selected');
  vscode.postMessage({ type: 'reveal', eip: Number(row.dataset.eip), seq: Number(row.dataset.seq) });
});
deviceSelect.addEventListener('change', refilter);
directionSelect.addEventListener('change', refilter);
let textTimer: number | undefined;
textInput.addEventListener('input', () => {
  clearTimeout(textTimer);
  textTimer = window.setTimeout(refilter, 150);
});
follow.addEventListener('change', queueRender);
$<HTMLButtonElement>('clear').addEventListener('click', () => {
  records = [];
  visible = [];
  queueRender();
  vscode.postMessage({ type: 'clear' });
});
window.addEventListener('resize', queueRender);

vscode.postMessage({ type: 'ready' });
