/**
 * The console's failures page: messages waiting to be tried again after an error (queued, with an
 * error and attempts since the last sms_retry), which may still be cancelled. The messages that
 * ended badly are the message list filtered by status (messages.ts).
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

export interface RetryingRow {
  id: string;
  createdAt: Date;
  recipient: string;
  owner: string;
  attempts: number;
  errorCode: string;
  errorMessage: string | null;
  nextAttemptAt: Date;
  expiresAt: Date;
}

/** Queued messages whose last attempt failed, soonest retry first (through sms_outbox_due_idx's rows). */
export async function listRetrying(db: Kysely<Database>, limit: number): Promise<RetryingRow[]> {
  const rows = await db
    .selectFrom('sms_outbox')
    .select(['id', 'created_at', 'recipient', 'owner', 'attempts', 'error_code', 'error_message', 'next_attempt_at', 'expires_at'])
    .where('status', '=', 'queued')
    .where('error_code', 'is not', null)
    .where(sql<boolean>`attempts > attempts_at_retry`)
    .orderBy('next_attempt_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    createdAt: r.created_at,
    recipient: r.recipient,
    owner: r.owner,
    attempts: r.attempts,
    errorCode: r.error_code!,
    errorMessage: r.error_message,
    nextAttemptAt: r.next_attempt_at,
    expiresAt: r.expires_at,
  }));
}
