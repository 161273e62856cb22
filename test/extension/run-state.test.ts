import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RunSignal, RunState } from '../../src/runState';
import { nextRunState } from '../../src/runState';

function replay(signals: RunSignal[]): RunState | undefined {
  let state: RunState | undefined;
  for (const s of signals) state = nextRunState(state, s);
  return state;
}

void describe('run state of a session', () => {
  void it('is running once VS Code announces the session', () => {
    assert.equal(replay(['started']), 'running');
  });

  void it('stays stopped when the announcement comes after a stop on entry', () => {
    // VS Code announces a session once its launch request is answered; the adapter's stopped event for
    // stopOnEntry often comes first.
    assert.equal(replay(['stopped', 'started']), 'stopped');
    assert.equal(replay(['stopped', 'started', 'resuming']), 'running');
  });

  void it('follows stops, resumes and the end of the session', () => {
    assert.equal(replay(['started', 'stopped']), 'stopped');
    assert.equal(replay(['started', 'stopped', 'continued']), 'running');
    assert.equal(replay(['started', 'stopped', 'resuming', 'stopped']), 'stopped');
    assert.equal(replay(['started', 'ended']), 'none');
    assert.equal(replay(['ended', 'started']), 'none');
  });
});
