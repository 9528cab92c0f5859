/**
 * Writes what the SMPP session produces back into Postgres: submit outcomes, delivery receipts and
 * incoming SMS. Everything goes through one group commit, so a batch is one transaction, results
 * and receipts of the same message are never written by two racing transactions of this worker,
 * and a receipt that arrives before its own submit_sm_resp is matched in the same flush that
 * writes the parts.
 *
 * Callers await their item: the pump frees a window slot, and the session sends deliver_sm_resp,
 * only after the item is committed.
 */
import type { Kysely } from 'kysely';
import type { Logger } from '../logger.js';
import type { Database, MessageStatus } from '../db/schema.js';
import { markFailed, markRetry, markSent, type ClaimedMessage, type RetryResult } from '../db/outbox.js';
import { applyToParts, markMatched, refreshStatuses, storeUnmatched, unmatchedReceiptsFor, type IncomingReceipt } from '../db/receipts.js';
import { deleteParts, insertInboxMessages, storePart, type InboxMessage } from '../db/inbox.js';
import type { InboundEvent, MoPart, SubmitResult } from '../smpp/session.js';
import { normalizeMessageId, receiptIdCandidates } from '../smpp/message-id.js';
import { reassemble } from '../smpp/mo.js';
import { GroupCommit } from './group-commit.js';
import { retryDelayMs } from './retry-policy.js';
import { encodingName, normalizeReceiptState } from './inbound-format.js';

type StoreItem =
  | { kind: 'result'; message: ClaimedMessage; result: SubmitResult }
  | { kind: 'inbound'; event: InboundEvent };

export interface StoreOptions {
  workerId: string;
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface StoreEvents {
  /** Called after each committed flush with what it changed (for metrics and logs). */
  onCommitted?: (summary: FlushSummary) => void;
}

export interface FlushSummary {
  sent: number;
  /** Permanent submit errors. */
  failed: number;
  /** Transient errors and unknown outcomes queued for another attempt. */
  retried: number;
  /** Transient errors on the last allowed attempt: failed. */
  exhausted: number;
  /** Results for rows this worker no longer held (lease lost): not applied. */
  fenced: number;
  receiptsMatched: number;
  receiptsUnmatched: number;
  lateMatches: number;
  /** Messages that reached a final status from receipts, by that status. */
  finalFromReceipts: Partial<Record<MessageStatus, number>>;
  inbox: number;
}

export class OutboxStore {
  private readonly commit: GroupCommit<StoreItem>;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: StoreOptions,
    private readonly events: StoreEvents = {},
  ) {
    this.commit = new GroupCommit<StoreItem>({
      flush: (items) => this.flush(items),
      maxBatch: 2000,
      onFlushError: (err, attempt, size) =>
        this.logger.error({ err, attempt, batch: size }, 'writing results to Postgres failed; retrying (nothing is acknowledged until it is written)'),
    });
  }

  /** Resolves once the submit outcome is committed. */
  recordResult(message: ClaimedMessage, result: SubmitResult): Promise<void> {
    return this.commit.add({ kind: 'result', message, result });
  }

  /** Resolves once the receipt or incoming part is committed (then deliver_sm_resp may go). */
  recordInbound(event: InboundEvent): Promise<void> {
    return this.commit.add({ kind: 'inbound', event });
  }

  get pending(): number {
    return this.commit.pending;
  }

  idle(): Promise<void> {
    return this.commit.idle();
  }

  close(timeoutMs: number): Promise<void> {
    return this.commit.close(timeoutMs);
  }

  private async flush(items: StoreItem[]): Promise<void> {
    const accepted: { id: string; attempts: number; messageIds: string[]; normalizedIds: string[] }[] = [];
    const failed: { id: string; attempts: number; errorCode: string; errorMessage: string }[] = [];
    const retry: RetryResult[] = [];
    const receipts: IncomingReceipt[] = [];
    const mo: MoPart[] = [];
    for (const item of items) {
      if (item.kind === 'inbound') {
        if (item.event.kind === 'receipt') {
          const r = item.event.receipt;
          receipts.push({
            rawId: r.messageId,
            candidates: receiptIdCandidates(r.messageId),
            state: normalizeReceiptState(r.state),
            error: r.error,
            text: r.text,
            source: r.source || null,
            destination: r.destination || null,
          });
        } else {
          mo.push(item.event.part);
        }
        continue;
      }
      const { message, result } = item;
      if (result.outcome === 'accepted') {
        accepted.push({
          id: message.id,
          attempts: message.attempts,
          messageIds: result.messageIds,
          normalizedIds: result.messageIds.map(normalizeMessageId),
        });
      } else if (result.outcome === 'rejected') {
        failed.push({
          id: message.id,
          attempts: message.attempts,
          errorCode: result.statusName,
          errorMessage: `${result.description} (command_status 0x${result.commandStatus.toString(16).padStart(8, '0')})`,
        });
      } else {
        const what = result.unknown ? 'outcome unknown' : 'not sent';
        retry.push({
          id: message.id,
          attempts: message.attempts,
          errorCode: result.statusName ?? (result.unknown ? 'UNKNOWN_OUTCOME' : 'NOT_SENT'),
          errorMessage: `${what}: ${result.reason}`,
          delayMs: retryDelayMs(message.attempts, this.options.retryBaseMs, this.options.retryMaxMs),
        });
      }
    }

    const summary: FlushSummary = {
      sent: 0,
      failed: 0,
      retried: 0,
      exhausted: 0,
      fenced: 0,
      receiptsMatched: 0,
      receiptsUnmatched: 0,
      lateMatches: 0,
      finalFromReceipts: {},
      inbox: 0,
    };
    const workerId = this.options.workerId;
    const newInbox: string[] = [];

    await this.db.transaction().execute(async (tx) => {
      const sent = await markSent(tx, workerId, accepted);
      const failedIds = await markFailed(tx, workerId, failed);
      const retried = await markRetry(tx, workerId, retry);
      summary.sent = sent.size;
      summary.failed = failedIds.size;
      for (const status of retried.values()) {
        if (status === 'failed') summary.exhausted++;
        else summary.retried++;
      }
      summary.fenced = accepted.length + failed.length + retry.length - sent.size - failedIds.size - retried.size;
      if (summary.fenced) {
        const lost = [...accepted, ...failed, ...retry].filter((r) => !sent.has(r.id) && !failedIds.has(r.id) && !retried.has(r.id));
        this.logger.warn(
          { ids: lost.map((r) => r.id) },
          'submit results for messages this worker no longer held (its lease expired and another worker took them): not applied; a duplicate may have been sent',
        );
      }

      const touched = new Set<string>();

      // Receipts that arrived before these parts were written (the receipt raced its own
      // submit_sm_resp, or arrived while the result waited for this flush).
      const newPartIds = accepted.filter((a) => sent.has(a.id)).flatMap((a) => a.normalizedIds.flatMap((id) => receiptIdCandidates(id)));
      const waiting = await unmatchedReceiptsFor(tx, [...new Set(newPartIds)]);
      if (waiting.length) {
        const matches = await applyToParts(
          tx,
          waiting.map((w) => ({ candidates: receiptIdCandidates(w.rawId), state: normalizeReceiptState(w.state), error: w.error })),
        );
        await markMatched(
          tx,
          matches.map((m) => ({ receiptId: waiting[m.index]!.id, outboxId: m.outboxId })),
        );
        for (const m of matches) touched.add(m.outboxId);
        summary.lateMatches = matches.length;
      }

      if (receipts.length) {
        const matches = await applyToParts(tx, receipts);
        const matched = new Set(matches.map((m) => m.index));
        for (const m of matches) touched.add(m.outboxId);
        const unmatched = receipts.filter((_, i) => !matched.has(i));
        await storeUnmatched(tx, unmatched);
        summary.receiptsMatched = matches.length;
        summary.receiptsUnmatched = unmatched.length;
      }

      for (const { status } of await refreshStatuses(tx, [...touched])) {
        summary.finalFromReceipts[status] = (summary.finalFromReceipts[status] ?? 0) + 1;
      }

      const complete: InboxMessage[] = [];
      for (const part of mo) {
        if (!part.concat) {
          complete.push({
            sender: part.source,
            recipient: part.destination,
            body: part.text,
            encoding: encodingName(part.dataCoding),
            parts: 1,
            missingParts: 0,
          });
          continue;
        }
        const key = { sender: part.source, recipient: part.destination, ref: part.concat.ref, total: part.concat.total };
        const set = await storePart(tx, key, { seq: part.concat.seq, dataCoding: part.dataCoding, payload: part.payload });
        if (set) {
          const { text, missing } = reassemble(set, key.total, set[0]!.dataCoding);
          complete.push({
            sender: key.sender,
            recipient: key.recipient,
            body: text,
            encoding: encodingName(set[0]!.dataCoding),
            parts: key.total,
            missingParts: missing.length,
          });
          await deleteParts(tx, key);
        }
      }
      newInbox.push(...(await insertInboxMessages(tx, complete)));
      summary.inbox = newInbox.length;
    });
    this.events.onCommitted?.(summary);
  }
}
