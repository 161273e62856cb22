/**
 * Messages between the MMIO Trace webview (media/trace.ts) and the extension (src/trace/panel.ts), one
 * discriminated union per direction, imported by both sides.
 */
import type { TraceRecordView } from '../../adapter/session/protocol';

export type { TraceRecordView };

/** Extension → webview. */
export type HostMessage =
  /**
   * Forget all rows (a new session, or the trace ring was reset). `maxRecords`: how many rows the webview keeps
   * (the setting `mmiodbg.trace.maxRecords`); the oldest go first.
   */
  | { readonly type: 'reset'; readonly status: string; readonly maxRecords?: number }
  /** New rows, oldest first. The webview must answer with `ack` before the next batch is sent (back-pressure). */
  | {
      readonly type: 'append';
      readonly batch: number;
      readonly records: readonly TraceRecordView[];
      readonly total: number;
    }
  | { readonly type: 'status'; readonly text: string };

/** Webview → extension. */
export type WebviewMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'ack'; readonly batch: number }
  | { readonly type: 'reveal'; readonly eip: number }
  | { readonly type: 'clear' };

export function isWebviewMessage(value: unknown): value is WebviewMessage {
  if (typeof value !== 'object' || value === null) return false;
  const m = value as { type?: unknown; batch?: unknown; eip?: unknown };
  switch (m.type) {
    case 'ready':
    case 'clear':
      return true;
    case 'ack':
      return typeof m.batch === 'number';
    case 'reveal':
      return typeof m.eip === 'number';
    default:
      return false;
  }
}
