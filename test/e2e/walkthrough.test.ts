/**
 * The release walk-through in a real VS Code (code-server 4.100.3 + Chromium): install the .vsix into a fresh
 * profile, open a workspace with the hpet-probe guest, F5, add an MMIO breakpoint on hpet.GCAP_ID from the
 * Peripherals view, stop there, read the decoded fields in Variables, save the seed hook with Ctrl+S, click
 * MMIO trace rows (a disassembly listing for another instruction, the Disassembly view for the stopped one),
 * step an instruction in the Disassembly view, dump memory with x/32 esp in the Debug Console, continue with F5
 * and find `hpet0: 3 comparators` in the Debug Console. Screenshots of each step go to test-results/e2e/.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { CodeServer, codeServerEntry, runCommand } from './code-server';
import {
  SHOTS,
  contextMenuAction,
  expandPane,
  makeHpetProbeWorkspace,
  openWithExtension,
  openFile,
  pane,
  shot,
  treeRow,
} from './workbench';

const SEED_HOOK = readFileSync('examples/hooks/hpet-one-comparator-fewer.mmh', 'utf8');
const STARTING_HOOK = '# Hooks for hpet-probe: none yet.\n';

/** Break on Read/Write from the Peripherals view's context menu on a device register. */
async function breakOn(page: Page, device: string, register: string, action: string, shotName?: string): Promise<void> {
  await expandPane(page, 'Peripherals', true);
  const peripherals = pane(page, 'Peripherals');
  await peripherals.locator('.monaco-list-row').first().waitFor({ timeout: 60_000 });
  // Collapse the devices opened before, so that the tree stays short.
  const expanded = peripherals.locator('.monaco-list-row[aria-level="1"][aria-expanded="true"]');
  for (let n = await expanded.count(); n > 0; n--) await expanded.first().click();
  const deviceRow = await treeRow(page, peripherals, device, 1);
  if ((await deviceRow.getAttribute('aria-expanded')) !== 'true') await deviceRow.click();
  // The registers arrive from the adapter after the click.
  await peripherals.locator('.monaco-list-row[aria-level="2"]').first().waitFor({ timeout: 15_000 });
  const registerRow = await treeRow(page, peripherals, register, 2);
  await contextMenuAction(page, registerRow, action, shotName ? () => shot(page, shotName) : undefined);
  await expandPane(page, 'Peripherals', false);
}

async function debugConsoleText(page: Page): Promise<string> {
  return (
    await page
      .locator('.repl .monaco-list-rows')
      .allInnerTexts()
      .catch(() => [])
  ).join('\n');
}

const setup = codeServerEntry();

void describe('walk-through in a real VS Code', { timeout: 300_000 }, () => {
  void it(
    'installs the .vsix, debugs hpet-probe, stops on hpet.GCAP_ID and applies a saved hook',
    { skip: 'unavailable' in setup ? setup.unavailable : false, timeout: 300_000 },
    async (t) => {
      if (!('entry' in setup)) return;
      // Only this test's own screenshots (numbered): other end-to-end tests save theirs beside them.
      mkdirSync(SHOTS, { recursive: true });
      for (const name of readdirSync(SHOTS)) if (/^\d\d.*\.png$/.test(name)) rmSync(join(SHOTS, name));
      const runDir = mkdtempSync(join(tmpdir(), 'mmiodbg-e2e-'));
      const workspace = join(runDir, 'workspace');
      makeHpetProbeWorkspace(workspace, { 'hooks.mmh': STARTING_HOOK });
      const server = new CodeServer(setup.entry, runDir);
      let current: Page | undefined;
      try {
        // 1. Install into a fresh profile, open the workspace.
        const page = await openWithExtension(server, runDir, workspace, (p) => (current = p));
        await page.locator('.explorer-folders-view .monaco-list-row', { hasText: 'hooks.mmh' }).click();
        await page
          .locator('.monaco-editor .view-lines', { hasText: 'Hooks for hpet-probe' })
          .waitFor({ timeout: 20_000 });
        await shot(page, '01-workspace');

        if (!existsSync('dist/adapter.js')) {
          t.skip('stopped before F5: the debug adapter (adapter/session/main.ts → dist/adapter.js) is not built yet');
          return;
        }

        // 2. F5 starts the launch.json configuration; the guest stops on entry. VS Code binds F5 to Start
        //    Debugging only once the extension host has registered the debug types that extensions contribute
        //    (context key debuggersAvailable); before that, F5 runs debug.openView, which only shows the Run and
        //    Debug view. The view's launch-configuration dropdown appears at that same moment: wait for it.
        await page.locator('.activitybar .action-label[aria-label^="Run and Debug"]').click();
        await page
          .locator('.start-debug-action-item select option', { hasText: 'hpet-probe' })
          .waitFor({ state: 'attached', timeout: 60_000 });
        await page.keyboard.press('F5');
        await pane(page, 'Call Stack')
          .locator('.pane-header', { hasText: /Paused on entry/i })
          .waitFor({ timeout: 60_000 });
        await expandPane(page, 'Watch', false);
        await expandPane(page, 'Peripherals', true);
        await pane(page, 'Peripherals')
          .locator('.monaco-list-row', { hasText: 'hpet' })
          .first()
          .waitFor({ timeout: 60_000 });
        await shot(page, '02-stopped-on-entry');

        // 3. Break on Read from the Peripherals view's context menu on hpet → GCAP_ID.
        await breakOn(page, 'hpet', 'GCAP_ID', 'Break on Read', '03-peripherals-context-menu');
        // The new function breakpoint sits below the adapter's exception filters in the Breakpoints view.
        const breakpoints = pane(page, 'Breakpoints').locator('.monaco-list-row', { hasText: 'read hpet.GCAP_ID' });
        await breakpoints.waitFor({ state: 'attached', timeout: 10_000 }).catch(() => undefined);
        await breakpoints.scrollIntoViewIfNeeded({ timeout: 5_000 }).catch(() => undefined);
        await shot(page, '03b-breakpoint-added');

        // 4. Continue: the guest stops on the GCAP_ID read; Variables show the decoded fields.
        await runCommand(page, 'Debug: Continue');
        await pane(page, 'Call Stack')
          .locator('.pane-header', { hasText: /read hpet\.GCAP_ID/ })
          .waitFor({ timeout: 30_000 });
        // The image's C sources are not in the workspace: VS Code focuses the top frame by itself and opens the
        // adapter's disassembly listing of the function at the stopped instruction, with no click.
        await page.locator('.tabs-container .tab.active', { hasText: /\.dis\b/ }).waitFor({ timeout: 15_000 });
        await page
          .locator('.monaco-editor .view-overlays .debug-top-stack-frame-line')
          .first()
          .waitFor({ state: 'attached', timeout: 15_000 });
        const variables = page.locator('.debug-variables');
        await variables.waitFor({ timeout: 10_000 });
        // Collapse the CPU registers so the Devices scope is in view, and expand scopes and rows until NUM_TIM_CAP
        // shows (the adapter decides how deep the register sits). The tree re-renders as the scopes arrive, and a
        // row can go away under a click: each round looks again.
        const cpuScope = variables.locator('.monaco-list-row', { hasText: /^\s*Registers\s*$/ }).first();
        await cpuScope.waitFor({ timeout: 10_000 });
        const expandDeadline = Date.now() + 30_000;
        while (!(await variables.locator('.monaco-list-row', { hasText: 'NUM_TIM_CAP' }).count())) {
          if (Date.now() > expandDeadline) break;
          if ((await cpuScope.getAttribute('aria-expanded').catch(() => null)) === 'true')
            await cpuScope.click({ timeout: 5_000 }).catch(() => undefined);
          const candidates = variables.locator('.monaco-list-row', { hasText: /hpet|GCAP_ID|Devices|Device/i });
          const n = await candidates.count();
          for (let i = 0; i < n; i++) {
            const row = candidates.nth(i);
            if ((await row.getAttribute('aria-expanded').catch(() => null)) === 'false')
              await row.click({ timeout: 5_000 }).catch(() => undefined);
          }
          await page.waitForTimeout(700);
        }
        await variables.locator('.monaco-list-row', { hasText: 'NUM_TIM_CAP' }).first().waitFor({ timeout: 10_000 });
        await shot(page, '04-stopped-on-gcap-id');

        //    The listing takes breakpoints: F9 on the next instruction's line adds one that the adapter verifies at
        //    that address (the Breakpoints view shows it under the listing's name, without an unverified mark);
        //    F9 again removes it.
        const topFrameLine = page.locator('.monaco-editor .view-overlays .debug-top-stack-frame-line').first();
        const frameBox = await topFrameLine.boundingBox();
        assert.ok(frameBox, 'the stopped line is not on screen');
        await page.mouse.click(frameBox.x + 200, frameBox.y + frameBox.height * 1.5);
        await page.keyboard.press('F9');
        const listingBreakpoint = pane(page, 'Breakpoints').locator('.monaco-list-row', {
          hasText: /guest_start\.dis/,
        });
        await listingBreakpoint.waitFor({ timeout: 15_000 });
        await listingBreakpoint
          .locator('.codicon-debug-breakpoint')
          .first()
          .waitFor({ state: 'attached', timeout: 10_000 });
        await shot(page, '04b-listing-breakpoint');
        await page.keyboard.press('F9');
        await listingBreakpoint.waitFor({ state: 'detached', timeout: 10_000 });

        // 5. Edit and save the hook file: the seed hook takes one comparator away.
        await openFile(page, 'hooks.mmh');
        const editor = page.locator('.monaco-editor .view-lines').first();
        await editor.click();
        await page.keyboard.press('Control+A');
        await page.keyboard.insertText(SEED_HOOK);
        await page.keyboard.press('Control+S');
        const saved = join(workspace, 'hooks.mmh');
        for (let i = 0; i < 40 && !readFileSync(saved, 'utf8').includes('NUM_TIM_CAP'); i++)
          await page.waitForTimeout(250);
        assert.equal(
          readFileSync(join(workspace, 'hooks.mmh'), 'utf8').replace(/\s+/g, ' '),
          SEED_HOOK.replace(/\s+/g, ' '),
        );
        await expandPane(page, 'Hooks', true);
        const hooks = pane(page, 'Hooks');
        await hooks.locator('.monaco-list-row', { hasText: 'GCAP_ID' }).first().waitFor({ timeout: 15_000 });
        await shot(page, '05-hook-saved');

        // 6. F5 continues: the GCAP_ID read runs through the hook just saved (the watchpoint stopped before the
        //    access, so no restart), and the watchpoint stops again on the register's upper half (F5 again). With
        //    the hook, the guest sees 3 timers and reads their configuration in a loop: break on timer 1's, whose
        //    instruction read timer 0's in the first round.
        await breakOn(page, 'hpet', 'T1_CONF_CAP', 'Break on Read');
        const callStack = pane(page, 'Call Stack');
        const header = callStack.locator('.pane-header');
        const stopDeadline = Date.now() + 60_000;
        while (!(await header.filter({ hasText: /read hpet\.T1_CONF_CAP/ }).count())) {
          if (Date.now() > stopDeadline) throw new Error('the guest did not stop on the T1_CONF_CAP read');
          // F5 continues when stopped and does nothing while the guest runs.
          if (await header.filter({ hasText: /read hpet\.GCAP_ID/ }).count()) await page.keyboard.press('F5');
          await page.waitForTimeout(700);
        }
        const stoppedEip = /at eip (0x[0-9a-f]{8})/.exec(await header.innerText())?.[1];
        assert.ok(stoppedEip, `no EIP in the stop description: ${await header.innerText()}`);

        // 7. MMIO trace rows open their instruction. The hooked GCAP_ID read is another instruction than the
        //    stopped one: its row opens the disassembly listing that shows it, beside the editor.
        await runCommand(page, 'mmiodbg: Show MMIO Trace');
        const trace = page.frameLocator('iframe.webview.ready').frameLocator('#active-frame');
        await trace.locator('#text').fill('handled');
        const hookedRow = trace.locator('#rows .row:visible', { hasText: 'hpet.GCAP_ID' }).first();
        await hookedRow.waitFor({ timeout: 30_000 });
        const hookedEip = (await hookedRow.locator('.eip').innerText()).trim();
        assert.notEqual(hookedEip, stoppedEip);
        await hookedRow.click();
        // The adapter's listing of the function (the same one the stopped frame opened) beside the editor, with the
        // row's instruction selected.
        const beside = page.locator('.editor-group-container.active');
        await beside.locator('.tabs-container .tab.active', { hasText: /\.dis\b/ }).waitFor({ timeout: 15_000 });
        await beside
          .locator('.monaco-editor .view-lines .view-line', { hasText: hookedEip })
          .first()
          .waitFor({ timeout: 10_000 });
        await beside.locator('.monaco-editor .selected-text').first().waitFor({ state: 'attached', timeout: 10_000 });
        await shot(page, '06-trace-row-listing');

        //    The timer 0 read of the first round came from the stopped instruction: its row opens VS Code's
        //    Disassembly view there, with the stack-frame marker on that instruction.
        await trace.locator('#text').fill(stoppedEip);
        const stoppedRow = trace.locator('#rows .row:visible', { hasText: 'hpet.T0_CONF_CAP' }).first();
        await stoppedRow.waitFor({ timeout: 15_000 });
        assert.equal((await stoppedRow.locator('.eip').innerText()).trim(), stoppedEip);
        await stoppedRow.click();
        await page.locator('.tabs-container .tab.active', { hasText: 'Disassembly' }).waitFor({ timeout: 15_000 });
        await page
          .locator('.disassembly-view .monaco-list-row', {
            // The focused-frame marker (the current-instruction one needs a frame VS Code deems the top).
            has: page.locator('.codicon-debug-stackframe, .codicon-debug-stackframe-focused'),
            hasText: new RegExp(stoppedEip, 'i'),
          })
          .first()
          .waitFor({ timeout: 15_000 });
        await shot(page, '07-trace-row-disassembly');

        //    Step one instruction in the Disassembly view (F10 there steps by instruction), then look at memory
        //    from the Debug Console.
        const disassembly = page.locator('.disassembly-view');
        await disassembly
          .locator('.monaco-list-row', { hasText: new RegExp(stoppedEip, 'i') })
          .first()
          .click();
        await page.keyboard.press('F10');
        await header.filter({ hasText: /step/i }).waitFor({ timeout: 15_000 });
        const nextEip = (parseInt(stoppedEip, 16) + 2).toString(16).padStart(8, '0');
        await disassembly
          .locator('.monaco-list-row', {
            has: page.locator('.codicon-debug-stackframe'),
            hasText: new RegExp(`0x${nextEip}`, 'i'),
          })
          .first()
          .waitFor({ timeout: 15_000 });
        await runCommand(page, 'Debug Console: Focus on Debug Console View');
        await page.locator('.repl-input-wrapper .monaco-editor').click();
        await page.keyboard.insertText('x/32 esp');
        await page.keyboard.press('Enter');
        await page
          .locator('.repl .monaco-list-row', { hasText: /0x[0-9a-f]{8} {2}([0-9a-f]{2} ){7}[0-9a-f]{2} {2}/ })
          .first()
          .waitFor({ timeout: 15_000 });
        await shot(page, '07b-stepped-memory-dump');

        // 8. The guest printed its HPET line on the way: one comparator fewer, without a restart.
        await runCommand(page, 'Remove All Breakpoints');
        await page.keyboard.press('F5');
        await runCommand(page, 'Debug Console: Focus on Debug Console View');
        const deadline = Date.now() + 60_000;
        let text = '';
        while (!/hpet0: \d+ comparators/.test(text) && Date.now() < deadline) {
          await page.waitForTimeout(500);
          text = await debugConsoleText(page);
        }
        assert.doesNotMatch(text, /hpet0: 4 comparators/);
        await shot(page, '08-debug-console');
        assert.match(text, /hpet0: 3 comparators/);

        // 9. The MMIO trace of the run.
        await runCommand(page, 'mmiodbg: Show MMIO Trace');
        await trace.locator('#text').fill('');
        await page.waitForTimeout(2_000);
        await shot(page, '09-mmio-trace');
      } catch (e) {
        if (current) await shot(current, '99-failure').catch(() => undefined);
        writeFileSync(join(SHOTS, 'code-server.log'), server.log.join(''));
        // The server may not have written logs yet (a failure while packing or installing).
        const logs = join(runDir, 'user-data', 'logs');
        if (existsSync(logs)) cpSync(logs, join(SHOTS, 'logs'), { recursive: true });
        throw e;
      } finally {
        await server.close();
        rmSync(runDir, { recursive: true, force: true });
      }
    },
  );
});
