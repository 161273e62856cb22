/**
 * Custom LSP requests of the hook-language server, declared once for the server and the VS Code extension.
 * Values travel as hex strings because registers can be 64 bits wide.
 */

/** The same views as the debug adapter's, so the extension shows both the same way. */
export type { FieldView as DecodedFieldView, RegisterView as DecodedRegisterView } from '../../core/regs/view';
import type { RegisterView as DecodedRegisterView } from '../../core/regs/view';

export interface RegisterSummary {
  /** `hpet.GCAP_ID` */
  qualifiedName: string;
  device: string;
  width: number;
  doc: string;
}

export interface HookServerRequests {
  /** Every register the server knows (the machine's devices and those declared in the workspace's hook files). */
  'mmiodbg/registers': { params: Record<string, never>; result: { registers: RegisterSummary[] } };
  /** Decodes a number as a register (`hpet.GCAP_ID`) without a debug session. */
  'mmiodbg/decodeValue': {
    params: { register: string; value: string };
    result: { register: DecodedRegisterView } | { error: string };
  };
}

export type HookServerRequestName = keyof HookServerRequests;
export type HookServerParams<K extends HookServerRequestName> = HookServerRequests[K]['params'];
export type HookServerResult<K extends HookServerRequestName> = HookServerRequests[K]['result'];

/** Options the extension passes when it starts the server. */
export interface HookServerInitializationOptions {
  /** HPET model of the launch configuration, when one is known (preset name or key=value text). */
  hpet?: string;
}
