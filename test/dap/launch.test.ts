import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DebugClient } from '@vscode/debugadapter-testsupport';
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { CustomEvents } from '../../adapter/session/protocol';
import { HELLO, collectOutput, eip, failure, launchStopped, startClient, tempFile } from './support';

void describe('launch errors', () => {
  let dc: DebugClient;
  before(async () => {
    dc = await startClient();
    await dc.initializeRequest();
  });
  after(() => dc.stop());

  void it('reports a missing program', async () => {
    const message = await failure(
      dc.launchRequest({ program: '/nonexistent/guest.elf' } as DebugProtocol.LaunchRequestArguments),
    );
    assert.match(message, /guest image not found: \/nonexistent\/guest\.elf/);
  });

  void it('reports an unknown format', async () => {
    const message = await failure(
      dc.launchRequest({ program: HELLO, format: 'pe' } as DebugProtocol.LaunchRequestArguments),
    );
    assert.match(message, /unknown format "pe"/);
  });

  void it('reports an unknown HPET preset', async () => {
    const message = await failure(
      dc.launchRequest({ program: HELLO, hpet: 'nosuch' } as DebugProtocol.LaunchRequestArguments),
    );
    assert.match(message, /nosuch/);
  });

  void it('reports a malformed image', async () => {
    const bad = tempFile('bad.elf', new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0, 0, 0]));
    const message = await failure(dc.launchRequest({ program: bad } as DebugProtocol.LaunchRequestArguments));
    assert.match(message, /bad\.elf: /);
  });

  void it('reports a missing hook file', async () => {
    const message = await failure(
      dc.launchRequest({ program: HELLO, hooks: ['/nonexistent/x.mmh'] } as DebugProtocol.LaunchRequestArguments),
    );
    assert.match(message, /hook file not found/);
  });
});

void describe('launch', () => {
  void it('stops on entry at the image entry point', async () => {
    const dc = await startClient();
    try {
      const stopped = await launchStopped(dc, { program: HELLO });
      assert.equal(stopped.body.reason, 'entry');
      assert.equal(await eip(dc), 0x00100010);
      const threads = await dc.threadsRequest();
      assert.deepEqual(threads.body.threads, [{ id: 1, name: 'CPU 0' }]);
    } finally {
      await dc.stop();
    }
  });

  void it('continues with a hook file that has errors, shown as diagnostics and output', async () => {
    const dc = await startClient();
    const output = collectOutput(dc);
    try {
      const broken = tempFile('broken.mmh', 'on read hpet.NO_SUCH_REGISTER {\n  handled\n}\n');
      const diagnostics = dc.waitForEvent('mmiodbg/hookDiagnostics');
      const stopped = await launchStopped(dc, { program: HELLO, hooks: [broken] });
      assert.equal(stopped.body.reason, 'entry');
      const event = (await diagnostics).body as CustomEvents['mmiodbg/hookDiagnostics'];
      assert.equal(event.ok, false);
      assert.equal(event.file, broken);
      assert.ok(
        event.diagnostics.some((d) => d.severity === 'error' && d.line === 1 && /NO_SUCH_REGISTER/.test(d.message)),
      );
      assert.match(output.text('stderr'), /broken\.mmh:1:\d+: error: /);
      const hooks = await dc.customRequest('mmiodbg/hooks', {});
      assert.deepEqual(hooks.body.hooks, []);
    } finally {
      await dc.stop();
    }
  });

  void it('runs to the end: guest output as stdout, exit code, terminated', async () => {
    const dc = await startClient();
    const output = collectOutput(dc);
    try {
      const exited = dc.waitForEvent('exited');
      const terminated = dc.waitForEvent('terminated');
      await Promise.all([dc.configurationSequence(), dc.launch({ program: HELLO })]);
      const code = ((await exited) as DebugProtocol.ExitedEvent).body.exitCode;
      await terminated;
      assert.match(output.text('stdout'), /Hello from mmiodbg guest\r?\n[\s\S]*exiting with code 0\r?\n$/);
      assert.match(output.text('console'), new RegExp(`exited with code ${code}`));
    } finally {
      await dc.stop();
    }
  });
});

void describe('terminate, disconnect and restart', () => {
  void it('terminate answers and sends terminated while the guest runs', async () => {
    const dc = await startClient();
    try {
      const spin = tempFile('spin.bin', new Uint8Array([0xeb, 0xfe]));
      await Promise.all([dc.configurationSequence(), dc.launch({ program: spin, format: 'bin' })]);
      await Promise.all([dc.terminateRequest(), dc.waitForEvent('terminated')]);
      const message = await failure(dc.continueRequest({ threadId: 1 }));
      assert.match(message, /ended/);
    } finally {
      await dc.stop();
    }
  });

  void it('disconnect answers while the guest runs', async () => {
    const dc = await startClient();
    const spin = tempFile('spin.bin', new Uint8Array([0xeb, 0xfe]));
    await Promise.all([dc.configurationSequence(), dc.launch({ program: spin, format: 'bin' })]);
    const response = await dc.disconnectRequest({});
    assert.equal(response.success, true);
    await dc.stop();
  });

  void it('restart re-creates the emulator and stops on entry again', async () => {
    const dc = await startClient();
    try {
      await launchStopped(dc, { program: HELLO });
      await Promise.all([dc.stepInRequest({ threadId: 1, granularity: 'instruction' }), dc.waitForEvent('stopped')]);
      assert.equal(await eip(dc), 0x00100011);
      const [, stopped] = await Promise.all([dc.restartRequest({}), dc.waitForEvent('stopped')]);
      assert.equal((stopped as DebugProtocol.StoppedEvent).body.reason, 'entry');
      assert.equal(await eip(dc), 0x00100010);
    } finally {
      await dc.stop();
    }
  });
});
