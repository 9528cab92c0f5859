/**
 * Redaction of message bodies past sms_settings.redact_after / inbox_redact_after: done by
 * public.sms_redact() in SQL (migrations/0013_redaction.sql), which holds the hashing key the
 * worker role may not read.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Redacts up to `batch` due messages and up to `batch` due incoming SMS; how many of each. */
export async function redactDue(db: Db, batch: number): Promise<{ messages: number; inbox: number }> {
  const { rows } = await sql<{ messages: number; inbox: number }>`select messages, inbox from public.sms_redact(${batch}::integer)`.execute(db);
  return { messages: rows[0]?.messages ?? 0, inbox: rows[0]?.inbox ?? 0 };
}
