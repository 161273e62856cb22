import type { DeviceDescription, RegisterDescription } from '../core/regs/describe';
import type { Expr, HookDecl, Stmt } from './ast';
import type { Diagnostic } from './diagnostics';

/** Values are 64-bit unsigned integers (bigint, wrapped to 64 bits) or booleans. */
export type Type =
  | { readonly kind: 'int'; readonly register?: RegisterDescription }
  | { readonly kind: 'bool' }
  | { readonly kind: 'void' };

/** Read-only information about the access a hook runs for. */
export type AccessInfoName =
  'address' | 'offset' | 'size' | 'width' | 'write' | 'read' | 'eip' | 'cpl' | 'time' | 'hits';

export const ACCESS_INFO: Readonly<Record<AccessInfoName, { readonly type: 'int' | 'bool'; readonly doc: string }>> = {
  address: { type: 'int', doc: 'physical address (or port) of the part of the access this hook sees' },
  offset: { type: 'int', doc: "byte offset of that part within the hook's register or range" },
  size: { type: 'int', doc: 'size of that part in bytes (1, 2, 4 or 8)' },
  width: { type: 'int', doc: 'size of that part in bits' },
  write: { type: 'bool', doc: 'true for a write access' },
  read: { type: 'bool', doc: 'true for a read access' },
  eip: { type: 'int', doc: 'EIP of the instruction making the access' },
  cpl: { type: 'int', doc: 'current privilege level (0-3)' },
  time: { type: 'int', doc: 'virtual time in nanoseconds' },
  hits: { type: 'int', doc: 'how many times this hook has run, this run included' },
};

export type Binding =
  | { readonly kind: 'value' }
  | { readonly kind: 'access'; readonly name: AccessInfoName }
  | { readonly kind: 'local'; readonly slot: number }
  | { readonly kind: 'state'; readonly slot: number };

export interface CheckedHook {
  readonly decl: HookDecl;
  /** `read hpet.GCAP_ID`, `write port 0x3f8`, ... */
  readonly name: string;
  readonly space: 'mmio' | 'pio';
  readonly start: number;
  readonly length: number;
  readonly device: DeviceDescription | undefined;
  readonly register: RegisterDescription | undefined;
  readonly localCount: number;
}

export interface StateVariable {
  readonly name: string;
  readonly type: Type;
  readonly initial: bigint | boolean;
}

export interface CheckedProgram {
  readonly hooks: readonly CheckedHook[];
  readonly state: readonly StateVariable[];
  /** Devices the file declares itself. */
  readonly declaredDevices: readonly DeviceDescription[];
  readonly types: ReadonlyMap<Expr, Type>;
  readonly bindings: ReadonlyMap<Expr, Binding>;
  /** Local-variable slot of each `var` and `for` statement. */
  readonly declarationSlots: ReadonlyMap<Stmt, number>;
}

export interface CheckResult {
  /** Present when there are no errors (warnings may remain). */
  readonly program: CheckedProgram | undefined;
  readonly diagnostics: readonly Diagnostic[];
}
