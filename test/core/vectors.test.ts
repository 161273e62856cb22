/** Every instruction vector recorded on real silicon (../shared/vectors beside the checkout) must pass. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VectorMachine, runVectorFile, vectorFiles } from '../../adapter/core/testing/vectors';

const VECTORS = join(__dirname, '..', '..', '..', 'shared', 'vectors', 'x86-32-user');
const available = existsSync(VECTORS);

void describe('instruction vectors (x86-32-user)', { skip: available ? false : `no vectors at ${VECTORS}` }, () => {
  const machine = available ? new VectorMachine() : undefined;
  for (const file of available ? vectorFiles([VECTORS]) : []) {
    const group = file.replace(/^.*\//, '').replace(/\.json\.gz$/, '');
    void it(group, () => {
      const summary = runVectorFile(machine!, file);
      const detail = summary.failures
        .slice(0, 5)
        .map((f) => `${f.name}: ${f.problems.join('; ')}`)
        .join('\n');
      assert.equal(summary.failed, 0, `${summary.failed} of ${summary.passed + summary.failed} failed:\n${detail}`);
      assert.ok(summary.passed > 0);
    });
  }
});
