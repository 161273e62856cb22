import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { CustomEvents, CustomRequestResult } from '../../adapter/session/protocol';
import { HPET_PROBE, SEED_HOOK, collectOutput, launchStopped, startClient, tempFile } from './support';

/** Waits until the guest's serial output contains `pattern`. */
async function waitForOutput(
  output: { text(category?: string): string },
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const m = pattern.exec(output.text('stdout'));
    if (m) return m[0];
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no ${pattern} in the output:\n${output.text('stdout')}`);
}

async function terminate(dc: DebugClient): Promise<void> {
  await Promise.all([dc.terminateRequest(), dc.waitForEvent('terminated')]);
  await dc.stop();
}

void describe('hooks', () => {
  void it('reports hit counts while the guest runs, not only when it stops', async () => {
    const dc = await startClient();
    const stops: unknown[] = [];
    dc.on('stopped', (e) => stops.push(e));
    const counted = new Promise<CustomEvents['mmiodbg/hooksChanged']>((resolve) => {
      dc.on('mmiodbg/hooksChanged', (e: { body: CustomEvents['mmiodbg/hooksChanged'] }) => {
        if (e.body.hooks.some((h) => h.hits > 0)) resolve(e.body);
      });
    });
    await Promise.all([
      dc.configurationSequence(),
      dc.launch({ program: HPET_PROBE, hooks: [SEED_HOOK], stopOnEntry: false }),
    ]);
    const body = await counted;
    assert.equal(body.hooks[0].name, 'read hpet.GCAP_ID');
    assert.deepEqual(stops, [], 'the counts came while the guest ran');
    await terminate(dc);
  });

  void it('runs without hooks: the ich HPET has 4 comparators', async () => {
    const dc = await startClient();
    const output = collectOutput(dc);
    await launchStopped(dc, { program: HPET_PROBE });
    await dc.continueRequest({ threadId: 1 });
    assert.equal(await waitForOutput(output, /hpet0: \d+ comparators/), 'hpet0: 4 comparators');
    await terminate(dc);
  });

  void it('swaps in pushed hook text before continuing: the guest sees one comparator fewer', async () => {
    const dc = await startClient();
    const output = collectOutput(dc);
    await launchStopped(dc, { program: HPET_PROBE });
    const changed = dc.waitForEvent('mmiodbg/hooksChanged');
    const pushed = (
      await dc.customRequest('mmiodbg/hookText', { file: 'seed.mmh', text: readFileSync(SEED_HOOK, 'utf8') })
    ).body as CustomRequestResult<'mmiodbg/hookText'>;
    assert.equal(pushed.ok, true);
    assert.equal(((await changed).body as CustomEvents['mmiodbg/hooksChanged']).hooks[0].name, 'read hpet.GCAP_ID');
    const broken = (await dc.customRequest('mmiodbg/hookText', { file: 'seed.mmh', text: 'on read hpet.GCAP_ID {' }))
      .body as CustomRequestResult<'mmiodbg/hookText'>;
    assert.equal(broken.ok, false, 'a broken version is refused and the previous one stays active');
    assert.ok(broken.diagnostics.length > 0);
    await dc.continueRequest({ threadId: 1 });
    assert.equal(await waitForOutput(output, /hpet0: \d+ comparators/), 'hpet0: 3 comparators');
    const hooks = (await dc.customRequest('mmiodbg/hooks', {})).body as CustomRequestResult<'mmiodbg/hooks'>;
    assert.equal(hooks.hooks.length, 1);
    assert.ok(hooks.hooks[0].hits >= 1);
    const trace = (await dc.customRequest('mmiodbg/trace', { count: 1000, device: 'hpet' }))
      .body as CustomRequestResult<'mmiodbg/trace'>;
    const read = trace.records.find((r) => r.register === 'GCAP_ID' && !r.isWrite);
    assert.ok(read, 'the GCAP_ID read is in the trace');
    assert.equal(read.decision, 'handled');
    assert.equal(read.after, '0x80868201');
    assert.match(read.fields ?? '', /NUM_TIM_CAP=2 \(3 timers\)/);
    await terminate(dc);
  });

  void it('recompiles a hook file when it changes on disk and reports its diagnostics', async () => {
    const dc = await startClient();
    const output = collectOutput(dc);
    const file = tempFile('live.mmh', '# nothing yet\n');
    await launchStopped(dc, { program: HPET_PROBE, hooks: [file] });
    const diagnostics = dc.waitForEvent('mmiodbg/hookDiagnostics');
    writeFileSync(file, readFileSync(SEED_HOOK, 'utf8'));
    const event = (await diagnostics).body as CustomEvents['mmiodbg/hookDiagnostics'];
    assert.equal(event.ok, true);
    assert.equal(event.file, file);
    await dc.continueRequest({ threadId: 1 });
    assert.equal(await waitForOutput(output, /hpet0: \d+ comparators/), 'hpet0: 3 comparators');
    await terminate(dc);
  });

  void it('feeds serial input to COM1', async () => {
    const dc = await startClient();
    await launchStopped(dc, { program: HPET_PROBE });
    const r = await dc.customRequest('mmiodbg/serialInput', { text: 'x' });
    assert.equal(r.success, true);
    // The byte arrives at the line rate, so let the guest run for a while.
    await dc.continueRequest({ threadId: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await Promise.all([dc.pauseRequest({ threadId: 1 }), dc.waitForEvent('stopped')]);
    const lsr = await dc.evaluateRequest({ expression: 'com1.LSR.DR', context: 'watch' });
    assert.match(lsr.body.result, /^1/);
    await dc.stop();
  });
});
