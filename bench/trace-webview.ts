/**
 * MMIO Trace webview with 100,000 rows: the real webview script (dist/trace.js) in headless Chromium, fed through
 * the extension's messages in its 4,000-record batches (test/support/trace-webview.ts). Figures: time to take in
 * the rows, requestAnimationFrame intervals while scrolling from the top to the bottom, time to apply and clear a
 * filter, row elements in the DOM and JS heap. Needs /usr/bin/chromium and dist/trace.js (scripts/build.mjs).
 *
 * Standalone: `node --import tsx bench/trace-webview.ts` (after `node scripts/build.mjs`).
 */
import { join } from 'node:path';
import { TraceWebview, traceWebviewUnavailable } from '../test/support/trace-webview';

export interface FrameStats {
  readonly frames: number;
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Frames longer than 50 ms (visible stutter). */
  readonly over50: number;
}

export interface TraceWebviewFigures {
  readonly rows: number;
  /** Height of the page (the panel) in px. */
  readonly viewportHeight: number;
  /** First `append` to the acknowledgement of the last batch, and to the frame that shows the last row. */
  readonly ingestMs: number;
  /** Of ingestMs, serialising the batches on the sending side (the same thread in this harness, not in VS Code). */
  readonly ingestSendMs: number;
  readonly ingestRenderedMs: number;
  readonly batches: number;
  /** Animation frames while the rows arrive (with "follow" on, every batch re-renders the bottom of the table). */
  readonly ingestFrames: FrameStats;
  /** Scrolling top to bottom, a new part of the table every frame. */
  readonly scroll: FrameStats;
  /** Main-thread time per scrolling frame, ms: all tasks, and of it script, style and layout. */
  readonly scrollMainThread: { taskMs: number; scriptMs: number; styleMs: number; layoutMs: number };
  readonly maxRowElements: number;
  readonly domElements: number;
  /** Device filter: change of the select to the render showing the result. */
  readonly deviceFilterMs: number;
  readonly deviceClearMs: number;
  /**
   * Text filter, minus the webview's 150 ms typing debounce: a first word (every record scanned), more typed
   * (only the rows still shown are scanned), cleared.
   */
  readonly textFilterMs: number;
  readonly textNarrowMs: number;
  readonly textClearMs: number;
  readonly heapBeforeBytes: number;
  readonly heapAfterBytes: number;
}

const TEXT_DEBOUNCE_MS = 150;

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function frameStats(intervals: readonly number[]): FrameStats {
  const sorted = [...intervals].sort((a, b) => a - b);
  return {
    frames: sorted.length,
    medianMs: percentile(sorted, 50),
    p95Ms: percentile(sorted, 95),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : 0,
    over50: sorted.filter((t) => t > 50).length,
  };
}

/** Runs the measurement; returns why not when Chromium or the webview bundle is missing. */
export async function benchTraceWebview(
  root: string,
  { rows = 100_000, scrollFrames = 600, height = 800 } = {},
): Promise<TraceWebviewFigures | { unavailable: string }> {
  const unavailable = traceWebviewUnavailable(root);
  if (unavailable) return { unavailable };
  const webview = await TraceWebview.open(root, { width: 1200, height });
  try {
    const heapBeforeBytes = await webview.heapUsed();
    await webview.startFrames();
    const load = await webview.load(rows);
    const ingestFrames = frameStats(await webview.stopFrames());
    const before = await webview.mainThread();
    const scroll = await webview.scrollThrough(scrollFrames);
    const after = await webview.mainThread();
    const perFrame = (k: keyof typeof before): number => (after[k] - before[k]) / scrollFrames;
    const device = await webview.setFilter('device', 'com1');
    const deviceClear = await webview.setFilter('device', '');
    const text = await webview.setFilter('text', 'com1');
    const textNarrow = await webview.setFilter('text', 'com1.thr');
    const textClear = await webview.setFilter('text', '');
    const domElements = await webview.domElements();
    const heapAfterBytes = await webview.heapUsed();
    return {
      rows,
      viewportHeight: height,
      ingestMs: load.ms,
      ingestSendMs: load.sendMs,
      ingestRenderedMs: load.renderedMs,
      batches: load.batches,
      ingestFrames,
      scroll: frameStats(scroll.intervals),
      scrollMainThread: {
        taskMs: perFrame('taskMs'),
        scriptMs: perFrame('scriptMs'),
        styleMs: perFrame('styleMs'),
        layoutMs: perFrame('layoutMs'),
      },
      maxRowElements: scroll.maxRows,
      domElements,
      deviceFilterMs: device.ms,
      deviceClearMs: deviceClear.ms,
      textFilterMs: text.ms - TEXT_DEBOUNCE_MS,
      textNarrowMs: textNarrow.ms - TEXT_DEBOUNCE_MS,
      textClearMs: textClear.ms - TEXT_DEBOUNCE_MS,
      heapBeforeBytes,
      heapAfterBytes,
    };
  } finally {
    await webview.close();
  }
}

function frames(s: FrameStats): string {
  const f = (n: number): string => n.toFixed(1);
  return `median ${f(s.medianMs)} ms, p95 ${f(s.p95Ms)} ms, p99 ${f(s.p99Ms)} ms, max ${f(s.maxMs)} ms, ${s.over50} of ${s.frames} frames > 50 ms`;
}

/** The figures as the lines `npm run bench` prints. */
export function formatTraceWebviewBench(r: TraceWebviewFigures | { unavailable: string }): string {
  if ('unavailable' in r) return `MMIO trace webview: not measured: ${r.unavailable}`;
  const ms = (n: number): string => `${n.toFixed(1)} ms`;
  const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
  const m = r.scrollMainThread;
  return [
    `MMIO trace webview (${r.rows.toLocaleString('en-US')} rows, headless Chromium, ${r.viewportHeight} px panel)`,
    `  ingest:  ${ms(r.ingestMs)} for ${r.batches} batches of 4,000 (${ms(r.ingestSendMs)} of it serialising on the sending side), ${ms(r.ingestRenderedMs)} to the rendered last row`,
    `           frames meanwhile: ${frames(r.ingestFrames)}`,
    `  scroll top to bottom, every row new each frame: ${frames(r.scroll)}`,
    `           main thread per frame ${ms(m.taskMs)} (script ${ms(m.scriptMs)}, style ${ms(m.styleMs)}, layout ${ms(m.layoutMs)})`,
    `  filter:  device ${ms(r.deviceFilterMs)}, clear ${ms(r.deviceClearMs)}; text ${ms(r.textFilterMs)}, typing on ${ms(r.textNarrowMs)}, clear ${ms(r.textClearMs)} (each after the ${TEXT_DEBOUNCE_MS} ms typing debounce)`,
    `  DOM:     at most ${r.maxRowElements} row elements, ${r.domElements} elements in the page`,
    `  JS heap: ${mib(r.heapAfterBytes)} used (${mib(r.heapBeforeBytes)} before the rows)`,
  ].join('\n');
}

if (process.argv[1]?.endsWith('trace-webview.ts')) {
  void benchTraceWebview(join(__dirname, '..')).then((r) => console.log(formatTraceWebviewBench(r)));
}
