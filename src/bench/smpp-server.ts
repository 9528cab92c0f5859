/**
 * The server side of the SMPP benchmark, run in its own process so client and server each have a
 * core: `simulator` (our SMSC simulator, recording off) or `bare` (the smpp package's own server,
 * the reference the session is measured against). Prints "READY <port>" when listening; exits on SIGTERM.
 */
import { startSimulator } from '../simulator/index.js';
import { smppLib } from '../smpp/smpp-lib.js';

interface BareSession {
  on(event: string, fn: (pdu: BarePdu) => void): void;
  send(pdu: BarePdu): void;
  close(): void;
}
interface BarePdu {
  response(fields?: Record<string, unknown>): BarePdu;
}

async function main(kind: string): Promise<void> {
  if (kind === 'simulator') {
    const sim = await startSimulator({ port: 0, receipts: false, record: false });
    process.stdout.write(`READY ${sim.port}\n`);
    process.on('SIGTERM', () => void sim.stop().then(() => process.exit(0)));
    return;
  }
  let id = 1_000_000_000;
  const server = smppLib.createServer({}, (raw: unknown) => {
    const session = raw as BareSession;
    const bind = (pdu: BarePdu) => session.send(pdu.response({ system_id: 'BARE' }));
    session.on('bind_transceiver', bind);
    session.on('bind_transmitter', bind);
    session.on('submit_sm', (pdu) => session.send(pdu.response({ message_id: (id++).toString(16).toUpperCase() })));
    session.on('enquire_link', (pdu) => session.send(pdu.response()));
    session.on('unbind', (pdu) => {
      session.send(pdu.response());
      session.close();
    });
    session.on('error', () => {});
  }) as { listen(port: number, host: string, cb: () => void): void; address(): { port: number } };
  server.listen(0, '127.0.0.1', () => process.stdout.write(`READY ${server.address().port}\n`));
  process.on('SIGTERM', () => process.exit(0));
}

void main(process.argv[2] ?? 'simulator');
