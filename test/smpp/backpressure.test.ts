/** Socket back-pressure: when the SMSC stops reading, the session stops writing instead of buffering. */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { CMD, withCString } from '../../src/smpp/pdu.js';
import { SmppSession } from '../../src/smpp/session.js';
import { logger, sessionOptions, until } from './helpers.js';

describe('back-pressure', () => {
  it('holds parts back while the socket is full, and sends them once it drains', async () => {
    let peer!: Socket;
    let received = 0;
    let answered = false;
    const server = createServer((socket) => {
      peer = socket;
      socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (!answered) {
          answered = true;
          // Answer the bind, then stop reading: the kernel buffers fill and the session must wait.
          socket.write(withCString(CMD.bind_transceiver_resp, 0, chunk.readUInt32BE(12), 'SLOW'));
          socket.pause();
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const session = new SmppSession(sessionOptions({ port }, { window: 1_000_000, responseTimeoutMs: 60_000, enquireLinkSeconds: 600 }), logger);
    try {
      session.start();
      await once(session, 'bound');
      const body = 'Ж'.repeat(670); // ten UCS-2 parts of ~180 octets each
      const results = Array.from({ length: 3000 }, (_, i) => session.submit({ id: String(i), source: 'MyShop', destination: '79991234567', body }));
      void results;
      // Wait until writing stalls: parts still queued, octets waiting for the kernel to take them,
      // and nothing more leaving for 150 ms and over 20 looks, each a turn of the event loop that
      // would have handed on a 'drain' (a process the machine did not run for 150 ms has not
      // stalled: its first look after would see the time pass, not the writes).
      let last = -1;
      let since = performance.now();
      let looks = 0;
      await until(() => {
        if (session.windowInUse !== last || session.writeBuffered === 0) {
          last = session.windowInUse;
          since = performance.now();
          looks = 0;
        }
        return session.queuedParts > 0 && ++looks > 20 && performance.now() - since > 150;
      }, 20_000, 'writes to stall');
      assert.ok(session.queuedParts > 0 && session.windowInUse < 30_000, `${session.windowInUse} on the wire, ${session.queuedParts} held back`);
      assert.ok(session.writeBuffered < 1_000_000, `only ${session.writeBuffered} octets buffered in the process`);
      // The SMSC reads again: the rest flows.
      const before = session.windowInUse;
      peer.resume();
      await until(() => session.windowInUse > before, 10_000, 'writing to resume');
    } finally {
      peer?.destroy();
      await session.stop({ drainTimeoutMs: 10 });
      server.close();
    }
    assert.ok(received > 0);
  });
});
