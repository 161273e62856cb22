/** Typed access to the adapter's custom DAP requests and events (declared in adapter/session/protocol.ts). */
import * as vscode from 'vscode';
import type {
  CustomEventName,
  CustomEvents,
  CustomRequestArgs,
  CustomRequestName,
  CustomRequestResult,
} from '../adapter/session/protocol';

export const DEBUG_TYPE = 'mmiodbg';

export async function customRequest<K extends CustomRequestName>(
  session: vscode.DebugSession,
  name: K,
  args: CustomRequestArgs<K>,
): Promise<CustomRequestResult<K>> {
  return (await session.customRequest(name, args)) as CustomRequestResult<K>;
}

/** Narrows a custom event to one of the adapter's declared events. */
export function isCustomEvent<K extends CustomEventName>(
  event: vscode.DebugSessionCustomEvent,
  name: K,
): event is vscode.DebugSessionCustomEvent & { body: CustomEvents[K] } {
  return event.session.type === DEBUG_TYPE && event.event === name;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
