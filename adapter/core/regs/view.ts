/**
 * A register's value decoded into its fields, as the debugger's views, the language server and the extension
 * show it. Values are hex strings because registers can be 64 bits wide.
 */
import type { RegisterDescription } from './describe';
import { explainField, formatHex, getField } from './describe';

export interface FieldView {
  name: string;
  lsb: number;
  msb: number;
  access: string;
  doc: string;
  value: string;
  /** Enum name or explanation, e.g. "4 timers". */
  meaning?: string;
}

export interface RegisterView {
  name: string;
  offset: number;
  /** Width in bits. */
  width: number;
  access: string;
  doc: string;
  value: string;
  fields: FieldView[];
}

export function registerView(register: RegisterDescription, value: bigint): RegisterView {
  return {
    name: register.name,
    offset: register.offset,
    width: register.width,
    access: register.access,
    doc: register.doc,
    value: formatHex(value, register.width),
    fields: register.fields.map((f) => {
      const v = getField(value, f);
      const meaning = explainField(f, v);
      return {
        name: f.name,
        lsb: f.lsb,
        msb: f.msb,
        access: f.access,
        doc: f.doc,
        value: '0x' + v.toString(16),
        ...(meaning !== undefined ? { meaning } : {}),
      };
    }),
  };
}
