/**
 * The MMIO Trace webview (dist/trace.js) with 100,000 rows, in headless Chromium, fed through the extension's
 * messages in its batches: the table keeps a bounded number of row elements, scrolling reaches the last record,
 * filters show exactly the matching rows, a click asks the extension to disassemble the row's EIP, and
 * `maxRecords` drops the oldest rows. Behaviour only; bench/trace-webview.ts measures the speed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { TraceRecordView } from '../../src/trace/messages';
import { traceRecords } from '../support/trace-records';
import { CHROMIUM, TraceWebview } from '../support/trace-webview';

const ROWS = 100_000;
const MAX_ROW_ELEMENTS = 200;

/** The records the fake extension sends, as the webview should see them. */
const RECORDS = traceRecords(0, ROWS + 16_000);

function seqsWhere(from: number, to: number, keep: (r: TraceRecordView) => boolean): number[] {
  return RECORDS.slice(from, to)
    .filter(keep)
    .map((r) => r.seq);
}

void describe(
  'MMIO Trace webview with 100,000 rows',
  { skip: !existsSync(CHROMIUM) && `${CHROMIUM} not found` },
  () => {
    let webview: TraceWebview;
    before(async () => {
      webview = await TraceWebview.open('.', { width: 1000, height: 600 });
    });
    after(async () => {
      await webview.close();
    });

    /** The rows wholly inside the viewport, by sequence number. */
    async function inView(): Promise<number[]> {
      return (await webview.rows()).filter((r) => r.inView).map((r) => r.seq);
    }

    void it('takes in every batch, follows the newest row and keeps few row elements', async () => {
      const load = await webview.load(ROWS);
      assert.equal(load.batches, ROWS / 4000);
      assert.equal(await webview.status(), `${ROWS} rows`);
      const shown = await inView();
      assert.equal(shown.at(-1), ROWS - 1, 'follow keeps the last record in view');
      assert.ok(shown.length >= 20, `a 600 px table shows about 25 rows, not ${shown.length}`);
      const elements = await webview.rowElements();
      assert.ok(elements < MAX_ROW_ELEMENTS, `${elements} row elements`);
    });

    void it('scrolls from the first to the last record with a bounded DOM', async () => {
      await webview.scrollTo('top');
      const top = await inView();
      assert.equal(top[0], 0);
      assert.deepEqual(
        top,
        top.map((_, i) => i),
        'consecutive records from the first',
      );
      const scroll = await webview.scrollThrough(60);
      assert.ok(scroll.maxRows < MAX_ROW_ELEMENTS, `${scroll.maxRows} row elements while scrolling`);
      const bottom = await inView();
      assert.equal(bottom.at(-1), ROWS - 1, 'the last record is in view at the bottom');
      assert.deepEqual(
        bottom,
        bottom.map((_, i) => ROWS - bottom.length + i),
        'consecutive records up to the last',
      );
      // Somewhere in the middle: the rows in view are the ones at that height.
      await webview.scrollTo(50_000 * 20);
      const middle = await inView();
      assert.ok(middle[0] >= 50_000 && middle[0] <= 50_001, `row ${middle[0]} at 1,000,000 px`);
      assert.ok((await webview.domElements()) < 600, 'the page stays small');
    });

    void it('filters by device, direction and text, and clears the filters', async () => {
      const com1 = seqsWhere(0, ROWS, (r) => r.device === 'com1');
      const device = await webview.setFilter('device', 'com1');
      assert.equal(device.status, `${com1.length} of ${ROWS} rows`);
      await webview.scrollTo('bottom');
      let rows = (await webview.rows()).filter((r) => r.inView);
      assert.ok(
        rows.every((r) => r.text.includes('com1.')),
        'only com1 rows',
      );
      assert.deepEqual(
        rows.map((r) => r.seq),
        com1.slice(-rows.length),
        'the last com1 records, in order',
      );

      const writes = seqsWhere(0, ROWS, (r) => r.device === 'com1' && r.isWrite);
      assert.equal((await webview.setFilter('direction', 'w')).status, `${writes.length} of ${ROWS} rows`);
      await webview.scrollTo('top');
      assert.deepEqual(await inView(), writes.slice(0, (await inView()).length));
      await webview.setFilter('direction', '');
      assert.equal((await webview.setFilter('device', '')).status, `${ROWS} rows`);

      // Text: a word, more of it (scans only the rows shown), less of it again (scans everything), cleared.
      const registers = (name: string): number[] => seqsWhere(0, ROWS, (r) => `${r.device}.${r.register}` === name);
      assert.equal((await webview.setFilter('text', 'COM1')).status, `${com1.length} of ${ROWS} rows`);
      const thr = registers('com1.THR');
      assert.equal((await webview.setFilter('text', 'com1.thr')).status, `${thr.length} of ${ROWS} rows`);
      await webview.scrollTo('top');
      rows = (await webview.rows()).filter((r) => r.inView);
      assert.deepEqual(
        rows.map((r) => r.seq),
        thr.slice(0, rows.length),
      );
      assert.equal((await webview.setFilter('text', 'com1')).status, `${com1.length} of ${ROWS} rows`);
      const hooked = registers('hpet.GCAP_ID');
      assert.equal((await webview.setFilter('text', 'handled')).status, `${hooked.length} of ${ROWS} rows`);
      assert.equal((await webview.setFilter('text', '')).status, `${ROWS} rows`);
    });

    void it('asks the extension to disassemble the EIP of a clicked row', async () => {
      await webview.scrollTo(90 * 20);
      const row = (await webview.rows()).find((r) => r.inView && r.seq === 98);
      assert.ok(row, 'record 98 is in view');
      const title = await webview.clickRow(98);
      assert.match(title ?? '', /^#98 read hpet\.GCAP_ID, 4 bytes at 0xfed00000\nEIP 0x001001e4/);
      const reveal = (await webview.posted()).filter((m) => m.type === 'reveal');
      assert.deepEqual(reveal.at(-1), { type: 'reveal', eip: RECORDS[98].eip });
    });

    void it('keeps the newest maxRecords rows, also under a filter', async () => {
      await webview.load(12_000, { maxRecords: 5000 });
      assert.equal(await webview.status(), `5000 rows (12000 recorded)`);
      await webview.scrollTo('top');
      assert.equal((await inView())[0], 7000);
      const writes = (from: number, to: number): number[] => seqsWhere(from, to, (r) => r.isWrite);
      assert.equal(
        (await webview.setFilter('direction', 'w')).status,
        `${writes(7000, 12_000).length} of 5000 rows (12000 recorded)`,
      );
      await webview.load(4000, { reset: false });
      const kept = writes(11_000, 16_000);
      assert.equal(await webview.status(), `${kept.length} of 5000 rows (16000 recorded)`);
      await webview.scrollTo('top');
      const top = await inView();
      assert.deepEqual(top, kept.slice(0, top.length));
      await webview.scrollTo('bottom');
      assert.equal((await inView()).at(-1), kept.at(-1));
    });
  },
);
