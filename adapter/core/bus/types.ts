/** Access sizes in bytes. MMIO accepts 1, 2, 4 and 8; port I/O accepts 1, 2 and 4. */
export type AccessSize = 1 | 2 | 4 | 8;
export type SmallAccessSize = 1 | 2 | 4;

/**
 * A device's handler for one region. Values of 1, 2 and 4 bytes are unsigned 32-bit numbers; 8-byte
 * accesses go to read64/write64 when the region implements 8 bytes, otherwise the bus splits them.
 */
export interface RegionHandler {
  read(offset: number, size: SmallAccessSize): number;
  write(offset: number, size: SmallAccessSize, value: number): void;
  read64?(offset: number): bigint;
  write64?(offset: number, value: bigint): void;
  /** Side-effect-free read for the debugger; regions without it read as all-ones in debugger views. */
  peek?(offset: number, size: SmallAccessSize): number;
}

/** Like QEMU's MemoryRegionOps: sizes the guest may use, and sizes the handler implements. */
export interface AccessRules {
  /** Accesses outside [min, max] are refused: reads return all-ones, writes are dropped, both are counted. */
  readonly valid: { readonly min: AccessSize; readonly max: AccessSize; readonly unaligned?: boolean };
  /** The bus widens or splits accesses so that the handler sees only sizes in [min, max]. */
  readonly impl: { readonly min: AccessSize; readonly max: AccessSize };
}

export interface RegionOptions extends Partial<AccessRules> {
  /** Owning device's short name (`hpet`, `com1`), used by traces, hooks and views. */
  readonly device: string;
  /** Region name when a device has several. */
  readonly name?: string;
}

export interface Region {
  readonly start: number;
  readonly length: number;
  readonly device: string;
  readonly name: string;
  readonly rules: AccessRules;
  readonly handler: RegionHandler;
}

export const DEFAULT_MMIO_RULES: AccessRules = { valid: { min: 1, max: 8 }, impl: { min: 1, max: 4 } };
export const DEFAULT_PIO_RULES: AccessRules = { valid: { min: 1, max: 4, unaligned: true }, impl: { min: 1, max: 4 } };

export class BusError extends Error {}
