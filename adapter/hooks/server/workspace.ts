/**
 * The hook files of a workspace as the language server sees them: open documents, and the `.mmh` files on disk
 * that are not open. A device one file declares is known in the others, as in a debug session, where each hook
 * file is checked against the devices the other loaded files declare.
 */
import type { DeviceDescription } from '../../core/regs/describe';
import { HookDocument } from './features';

interface HookFile {
  readonly text: string;
  readonly open: boolean;
  readonly declared: readonly DeviceDescription[];
  /** Device, register and field names the file declares: a change there can change other files' diagnostics. */
  readonly signature: string;
  /** The file analysed on its own, for finding its declarations. */
  readonly alone: HookDocument;
}

export interface DeclarationLocation {
  readonly uri: string;
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

function signatureOf(devices: readonly DeviceDescription[]): string {
  return devices
    .map((d) => `${d.name}{${d.registers.map((r) => `${r.name}(${r.fields.map((f) => f.name).join(',')})`).join(';')}}`)
    .join('|');
}

export class HookWorkspace {
  private readonly files = new Map<string, HookFile>();
  /** Grows whenever any file's declarations change: analyses made before are out of date. */
  generation = 0;

  constructor(private readonly machineDevices: readonly DeviceDescription[]) {}

  /**
   * Records a file's text (an open document's, or a file read from disk); returns true when its declarations
   * changed. A file on disk does not replace an open document.
   */
  set(uri: string, text: string, open: boolean): boolean {
    const previous = this.files.get(uri);
    if (!open && previous?.open) return false;
    const alone = new HookDocument(text, this.machineDevices);
    const declared = alone.declaredDevices;
    const signature = signatureOf(declared);
    this.files.set(uri, { text, open, declared, signature, alone });
    const changed = signature !== (previous?.signature ?? '');
    if (changed) this.generation++;
    return changed;
  }

  /** Forgets a file (deleted, or closed without a copy on disk); returns true when it declared devices. */
  delete(uri: string): boolean {
    const previous = this.files.get(uri);
    this.files.delete(uri);
    const changed = (previous?.signature ?? '') !== '';
    if (changed) this.generation++;
    return changed;
  }

  isOpen(uri: string): boolean {
    return this.files.get(uri)?.open ?? false;
  }

  /** The machine's devices and those the other files declare (a file's own declarations come from its text). */
  devicesFor(uri: string): DeviceDescription[] {
    const byName = new Map(this.machineDevices.map((d) => [d.name.toLowerCase(), d]));
    for (const [other, file] of this.files) {
      if (other === uri) continue;
      for (const d of file.declared) if (!byName.has(d.name.toLowerCase())) byName.set(d.name.toLowerCase(), d);
    }
    return [...byName.values()];
  }

  /** Every device: the machine's and every file's declarations. */
  allDevices(): DeviceDescription[] {
    return this.devicesFor('');
  }

  /** Where another file declares a device, or a register of a device it declares. */
  declarationElsewhere(uri: string, device: string, register?: string): DeclarationLocation | undefined {
    const deviceLower = device.toLowerCase();
    for (const [other, file] of this.files) {
      if (other === uri || !file.alone.isDeclaredDevice(device)) continue;
      const symbol =
        register === undefined
          ? file.alone.symbolsNamed('device', device)[0]
          : file.alone.symbolsNamed('register', register).find((s) => s.device?.toLowerCase() === deviceLower);
      if (symbol) return { uri: other, text: file.text, start: symbol.start, end: symbol.end };
    }
    return undefined;
  }
}
