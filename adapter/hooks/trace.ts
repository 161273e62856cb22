import { closeSync, openSync, writeSync } from 'node:fs';

export type HookDecision = 'none' | 'emulate' | 'handled';

export interface TraceRecord {
  /** Sequence number over the whole run, starting at 0; unaffected by the ring buffer wrapping. */
  readonly seq: number;
  /** Virtual time in nanoseconds. */
  readonly time: number;
  readonly eip: number;
  readonly space: 'mmio' | 'pio';
  readonly address: number;
  readonly size: number;
  readonly isWrite: boolean;
  readonly device: string;
  readonly register: string | undefined;
  /** Read: what the device returned (undefined when no hook let the device be read). Write: what the guest wrote. */
  readonly before: bigint | undefined;
  /** Read: what the guest received. Write: what the device received (undefined when nothing was written). */
  readonly after: bigint | undefined;
  /** `handled` if any hooked part was handled, `emulate` if hooks ran and all emulated, `none` without hooks. */
  readonly decision: HookDecision;
  readonly hooks: readonly { readonly name: string; readonly decision: HookDecision | 'fault' }[];
  readonly logs: readonly string[];
}

export type TraceSink = (record: TraceRecord) => void;

export interface TraceOptions {
  /** Records kept for paging queries; older ones are dropped. */
  readonly capacity?: number;
  /** Only these devices (by short name) are recorded; all when absent. */
  readonly devices?: readonly string[];
}

/** Every device access in a bounded ring buffer, plus sinks that see each record as it happens. */
export class MmioTrace {
  readonly capacity: number;
  private readonly buffer: (TraceRecord | undefined)[];
  private nextSeq = 0;
  private readonly sinks = new Set<TraceSink>();
  private deviceFilter: ReadonlySet<string> | undefined;

  constructor(options: TraceOptions = {}) {
    this.capacity = Math.max(1, Math.floor(options.capacity ?? 100_000));
    this.buffer = new Array<TraceRecord | undefined>(this.capacity);
    this.setDeviceFilter(options.devices);
  }

  setDeviceFilter(devices: readonly string[] | undefined): void {
    this.deviceFilter = devices ? new Set(devices.map((d) => d.toLowerCase())) : undefined;
  }

  accepts(device: string): boolean {
    return this.deviceFilter === undefined || this.deviceFilter.has(device.toLowerCase());
  }

  /** Sequence number the next record gets. */
  get total(): number {
    return this.nextSeq;
  }

  /** Sequence number of the oldest record still held. */
  get first(): number {
    return Math.max(0, this.nextSeq - this.capacity);
  }

  add(record: Omit<TraceRecord, 'seq'>): TraceRecord {
    const full: TraceRecord = { seq: this.nextSeq, ...record };
    this.buffer[this.nextSeq % this.capacity] = full;
    this.nextSeq++;
    for (const sink of this.sinks) sink(full);
    return full;
  }

  /** Up to `count` records starting at sequence number `fromSeq` (clamped to what is still held). */
  query(fromSeq: number, count: number, device?: string): TraceRecord[] {
    const out: TraceRecord[] = [];
    const wanted = device?.toLowerCase();
    for (let seq = Math.max(fromSeq, this.first); seq < this.nextSeq && out.length < count; seq++) {
      const record = this.buffer[seq % this.capacity]!;
      if (wanted === undefined || record.device.toLowerCase() === wanted) out.push(record);
    }
    return out;
  }

  /** The newest `count` records, oldest first. */
  latest(count: number): TraceRecord[] {
    return this.query(Math.max(this.first, this.nextSeq - count), count);
  }

  clear(): void {
    this.buffer.fill(undefined);
    this.nextSeq = 0;
  }

  addSink(sink: TraceSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }
}

function hex(value: bigint | number | undefined): string | undefined {
  return value === undefined ? undefined : '0x' + value.toString(16);
}

/** A JSON-friendly form: numbers stay numbers, addresses and values become hex strings. */
export function traceRecordToJson(r: TraceRecord): Record<string, unknown> {
  return {
    seq: r.seq,
    time: r.time,
    eip: hex(r.eip),
    space: r.space,
    dir: r.isWrite ? 'write' : 'read',
    address: hex(r.address),
    size: r.size,
    device: r.device,
    register: r.register,
    before: hex(r.before),
    after: hex(r.after),
    decision: r.decision,
    hooks: r.hooks.length ? r.hooks : undefined,
    logs: r.logs.length ? r.logs : undefined,
  };
}

/** A sink that writes one JSON object per line through `write`. */
export function jsonLinesSink(write: (line: string) => void): TraceSink {
  return (record) => write(JSON.stringify(traceRecordToJson(record)) + '\n');
}

/** Opens a JSON-lines trace file (`mmiodbg run --trace FILE`); close it when the run ends. */
export function openJsonLinesFile(path: string): { readonly sink: TraceSink; close(): void } {
  const fd = openSync(path, 'w');
  let open = true;
  return {
    sink: jsonLinesSink((line) => {
      if (open) writeSync(fd, line);
    }),
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}
