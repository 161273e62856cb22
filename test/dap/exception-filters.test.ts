/** The exception filters offered to the client, and the vector list in the condition of "CPU exceptions". */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DebugClient } from '@vscode/debugadapter-testsupport';

const ROOT = join(__dirname, '..', '..');
const ADAPTER = join(ROOT, 'dist', 'adapter.js');

void describe('exception filters', () => {
  void it('offers a short list, and "CPU exceptions" takes a vector list as its condition', async () => {
    const dc = new DebugClient('node', ADAPTER, 'mmiodbg');
    await dc.start();
    try {
      const init = await dc.initializeRequest();
      const filters = init.body?.exceptionBreakpointFilters ?? [];
      assert.ok(filters.length <= 6, `${filters.length} filters`);
      const cpu = filters.find((f) => f.filter === 'all');
      assert.equal(cpu?.supportsCondition, true);
      assert.equal(init.body?.supportsExceptionFilterOptions, true);
      await dc.launchRequest({ program: join(ROOT, 'guests', 'hello', 'hello.elf'), stopOnEntry: true } as never);
      const ok = await dc.setExceptionBreakpointsRequest({
        filters: [],
        filterOptions: [{ filterId: 'all', condition: '#DE #DF 17' }],
      });
      assert.equal(ok.body?.breakpoints?.length, 1);
      await assert.rejects(
        dc.setExceptionBreakpointsRequest({ filters: [], filterOptions: [{ filterId: 'all', condition: '#XX' }] }),
        /unknown exception "#XX"/,
      );
    } finally {
      await dc.stop();
    }
  });
});
