/// <reference lib="dom" />
/**
 * Runs inside the page that hosts the MMIO Trace webview script (dist/trace.js) for the benchmark and the tests
 * (bundled for the browser and injected before the page's own script). It plays VS Code's part: it provides
 * `acquireVsCodeApi`, and it plays the extension's part (src/trace/panel.ts): after the webview's `ready` it sends
 * `reset`, then `append` batches of up to 4,000 records, each only after the webview acknowledged the previous one.
 * Messages reach the webview as in VS Code, as `message` events posted to its window. The driver in Node calls the
 * functions of `window.traceHost`.
 */
import type { HostMessage, WebviewMessage } from '../../src/trace/messages';
import { traceRecords } from './trace-records';

export interface LoadResult {
  /** From the first `append` to the webview's acknowledgement of the last, in ms. */
  readonly ms: number;
  /**
   * Of `ms`, the time the fake host spent in `postMessage` (serialising the batches), which in VS Code happens in
   * the extension host and the workbench rather than on the webview's thread.
   */
  readonly sendMs: number;
  /** Until the frame after the last acknowledgement has rendered, in ms. */
  readonly renderedMs: number;
  readonly batches: number;
}

export interface ScrollResult {
  /** requestAnimationFrame intervals while scrolling, in ms. */
  readonly intervals: number[];
  /** Most row elements in the table at any frame. */
  readonly maxRows: number;
  readonly frames: number;
}

export interface RowView {
  readonly seq: number;
  readonly eip: number;
  readonly text: string;
  /** The whole row lies inside the scrolled viewport. */
  readonly inView: boolean;
}

export interface FilterResult {
  /** From the change of the control to the render that shows its result, in ms. */
  readonly ms: number;
  readonly status: string;
}

type Listener = (m: WebviewMessage) => void;

const posted: WebviewMessage[] = [];
const listeners = new Set<Listener>();
let acquired = false;

const api = {
  postMessage(message: WebviewMessage): void {
    // Messages cross to the extension host by structured clone, as in VS Code.
    const copy = structuredClone(message);
    posted.push(copy);
    for (const l of [...listeners]) l(copy);
  },
  getState: (): unknown => undefined,
  setState: (state: unknown): unknown => state,
};

Object.assign(window, {
  acquireVsCodeApi(): typeof api {
    // VS Code allows one call per webview.
    if (acquired) throw new Error('An instance of the VS Code API has already been acquired');
    acquired = true;
    return api;
  },
});

function send(message: HostMessage): void {
  window.postMessage(message, '*');
}

function next(predicate: (m: WebviewMessage) => boolean, timeoutMs = 30_000): Promise<WebviewMessage> {
  const earlier = posted.find(predicate);
  if (earlier) return Promise.resolve(earlier);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      listeners.delete(listener);
      reject(new Error('the webview did not answer'));
    }, timeoutMs);
    const listener: Listener = (m) => {
      if (!predicate(m)) return;
      clearTimeout(timer);
      listeners.delete(listener);
      resolve(m);
    };
    listeners.add(listener);
  });
}

function frame(): Promise<number> {
  return new Promise((resolve) => requestAnimationFrame(resolve));
}

const el = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} missing`);
  return found as T;
};

let batch = 0;
let sent = 0;

/** Sends records `sent` … `sent + count - 1` the way the extension does. `reset` first forgets earlier rows. */
async function load(count: number, batchSize = 4000, reset = true, maxRecords?: number): Promise<LoadResult> {
  await next((m) => m.type === 'ready');
  if (reset) {
    send({ type: 'reset', status: 'Loading trace…', ...(maxRecords !== undefined ? { maxRecords } : {}) });
    sent = 0;
  }
  // The extension has a batch ready when the acknowledgement of the previous one comes.
  const batches: HostMessage[] = [];
  for (let done = 0; done < count; done += batchSize) {
    const records = traceRecords(sent, Math.min(batchSize, count - done));
    sent += records.length;
    batches.push({ type: 'append', batch: ++batch, records, total: sent });
  }
  const t0 = performance.now();
  let sendMs = 0;
  for (const message of batches) {
    const s0 = performance.now();
    send(message);
    sendMs += performance.now() - s0;
    if (message.type === 'append') await next((m) => m.type === 'ack' && m.batch === message.batch);
  }
  const ms = performance.now() - t0;
  await frame();
  await frame();
  return { ms, sendMs, renderedMs: performance.now() - t0, batches: batches.length };
}

let recording: number[] | undefined;

/** Starts recording requestAnimationFrame intervals. */
function startFrames(): void {
  const intervals: number[] = [];
  recording = intervals;
  let last = -1;
  const tick = (now: number): void => {
    if (recording !== intervals) return;
    if (last >= 0) intervals.push(now - last);
    last = now;
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}

function stopFrames(): number[] {
  const intervals = recording ?? [];
  recording = undefined;
  return intervals;
}

/** Scrolls the table from the top to the bottom in `frames` equal steps, one step per frame. */
async function scrollThrough(frames: number): Promise<ScrollResult> {
  const viewport = el<HTMLDivElement>('viewport');
  const rows = el<HTMLDivElement>('rows');
  viewport.scrollTop = 0;
  await frame();
  await frame();
  const range = viewport.scrollHeight - viewport.clientHeight;
  const intervals: number[] = [];
  let maxRows = rows.childElementCount;
  let last = await frame();
  for (let i = 1; i <= frames; i++) {
    viewport.scrollTop = Math.round((range * i) / frames);
    const now = await frame();
    intervals.push(now - last);
    last = now;
    maxRows = Math.max(maxRows, rows.childElementCount);
  }
  await frame();
  return { intervals, maxRows: Math.max(maxRows, rows.childElementCount), frames };
}

/** Scrolls to the top or bottom (or a pixel offset) and waits until it has rendered. */
async function scrollTo(where: 'top' | 'bottom' | number): Promise<void> {
  const viewport = el<HTMLDivElement>('viewport');
  viewport.scrollTop = where === 'top' ? 0 : where === 'bottom' ? viewport.scrollHeight : where;
  await frame();
  await frame();
}

/** The rows displayed in the table, in order, and whether each is inside the visible part of the viewport. */
function rows(): RowView[] {
  const box = el<HTMLDivElement>('viewport').getBoundingClientRect();
  return [...el<HTMLDivElement>('rows').querySelectorAll<HTMLDivElement>('.row')]
    .filter((row) => row.getClientRects().length > 0)
    .map((row) => {
      const r = row.getBoundingClientRect();
      return {
        seq: Number(row.dataset.seq),
        eip: Number(row.dataset.eip),
        text: [...row.children].map((c) => c.textContent ?? '').join(' | '),
        inView: r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5,
      };
    })
    .sort((a, b) => a.seq - b.seq);
}

/** Sets a filter control as a user would and waits for the render that shows the new row count. */
async function setFilter(control: 'device' | 'direction' | 'text', value: string): Promise<FilterResult> {
  const status = el<HTMLSpanElement>('status');
  const before = status.textContent ?? '';
  const input = el<HTMLInputElement | HTMLSelectElement>(control);
  const changed = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      observer.disconnect();
      reject(new Error(`the row count did not change after setting ${control} to "${value}"`));
    }, 30_000);
    const observer = new MutationObserver(() => {
      if ((status.textContent ?? '') === before) return;
      clearTimeout(timer);
      observer.disconnect();
      resolve(performance.now());
    });
    observer.observe(status, { childList: true, characterData: true, subtree: true });
  });
  const t0 = performance.now();
  input.value = value;
  input.dispatchEvent(new Event(control === 'text' ? 'input' : 'change', { bubbles: true }));
  const t1 = await changed;
  return { ms: t1 - t0, status: status.textContent ?? '' };
}

function status(): string {
  return el<HTMLSpanElement>('status').textContent ?? '';
}

Object.assign(window, {
  traceHost: {
    load,
    startFrames,
    stopFrames,
    scrollThrough,
    scrollTo,
    rows,
    setFilter,
    status,
    posted: (): WebviewMessage[] => posted,
    domElements: (): number => document.getElementsByTagName('*').length,
    rowElements: (): number => el('rows').childElementCount,
    send,
  },
});
