/** LISTEN on a test database and collect what is NOTIFYed (after commit), for the query tests. */
import pg from 'pg';

export interface Notification {
  channel: string;
  payload: string;
}

export interface Listener {
  received: Notification[];
  /** The notifications on `channel` so far (after giving in-flight ones a moment to arrive). */
  on(channel: string): Promise<string[]>;
  /** The JSON payloads on `channel` so far, parsed, sorted by their `id`. */
  json(channel: string): Promise<Record<string, unknown>[]>;
  /** Forgets what was received so far. */
  clear(): void;
  close(): Promise<void>;
}

export async function listen(url: string, channels: string[]): Promise<Listener> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const received: Notification[] = [];
  client.on('notification', (n) => received.push({ channel: n.channel, payload: n.payload ?? '' }));
  for (const c of channels) await client.query(`listen ${c}`);
  const on = async (channel: string) => {
    // A round trip on the listening connection delivers every notification committed before it.
    await client.query('select 1');
    return received.filter((n) => n.channel === channel).map((n) => n.payload);
  };
  return {
    received,
    on,
    async json(channel) {
      const payloads = await on(channel);
      return payloads.map((p) => JSON.parse(p) as Record<string, unknown>).sort((a, b) => String(a.id).localeCompare(String(b.id)));
    },
    clear() {
      received.length = 0;
    },
    close: () => client.end(),
  };
}
