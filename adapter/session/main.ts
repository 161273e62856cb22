/**
 * The debug adapter process: DAP over stdin/stdout, or `--server=PORT` to serve DAP on a TCP port (to debug the
 * adapter itself; one session per connection). The extension runs `MmiodbgSession` inline instead.
 */
import { createServer } from 'node:net';
import { MmiodbgSession } from './session';

const serverArg = process.argv.slice(2).find((a) => a.startsWith('--server='));
if (serverArg) {
  const port = Number(serverArg.slice('--server='.length));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`mmiodbg adapter: bad port in ${serverArg}\n`);
    process.exit(2);
  }
  const server = createServer((socket) => {
    const session = new MmiodbgSession();
    session.setRunAsServer(true);
    session.start(socket, socket);
  });
  server.listen(port, () => {
    const address = server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    process.stderr.write(`mmiodbg adapter: waiting for DAP on port ${actual}\n`);
  });
} else {
  const session = new MmiodbgSession();
  process.on('SIGTERM', () => session.shutdown());
  session.start(process.stdin, process.stdout);
}
