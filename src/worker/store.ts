/**
 * Writes what the SMPP session produces back into Postgres, through two group commits that run
 * side by side on their own connections:
 *
 * - outcomes: submit results (sent / queued again / failed) and the parts' SMSC ids;
 * - inbound: delivery receipts and incoming SMS.
 *
 * Callers await their item: the pump frees a window slot, and the session sends deliver_sm_resp,
 * only once the item is committed.
 *
 * A batch with incoming SMS is written in one transaction on the reply handlers' own pool, which
 * also calls the handlers the owners registered for the SMS it stores (src/db/reply-handlers.ts):
 * a handler that fails is rolled back alone and its error kept in sms_handler_error, so the SMS
 * is stored and acknowledged all the same; a handler that would not stop gets its statement
 * ended, and the batch is written again with that handler's rule suspended.
 *
 * An inbound batch that Postgres refuses because of one PDU in it (src/db/row-errors.ts: a
 * constraint, a trigger's exception, a value it cannot hold) is split until that PDU is alone; the
 * PDU is parked whole in sms_inbound_parked with its error (and then acknowledged: it is durable
 * there), the rest commits. Any other failure retries the batch as it is, with back-off.
 *
 * A receipt can race its own submit result: it may arrive before the submit_sm_resp, or be written
 * while the outcome batch holding its message's parts is still open. Three cases, all matched:
 * the receipt committed first (the outcome flush looks for waiting receipts of its new parts);
 * the outcome committed first (the receipt flush finds the parts); both at once (the receipt flush
 * stores it unmatched and queues a re-match behind the outcome flush in progress, which by then
 * has committed). The reconcile task is the safety net for receipts that arrive on another
 * worker's session.
 */
import type { Kysely } from 'kysely';
import { errorForLog, type Logger } from '../logger.js';
import type { Database, MessageStatus } from '../db/schema.js';
import { markSent, markUnsent, type ClaimedMessage, type UnsentResult } from '../db/outbox.js';
import { rematchReceipts, writeInbound, type InboundWritten } from '../db/inbound-writes.js';
import { withHandlerConnection, type ReplyHandlerOptions } from '../db/reply-handlers.js';
import { receiptsById, type ReceiptMatch, type StoredReceipt } from '../db/receipts.js';
import { parkPdu } from '../db/parked.js';
import { errorCode, isRowError } from '../db/row-errors.js';
import type { InboundEvent, SubmitResult } from '../smpp/session.js';
import { normalizeMessageId, receiptIdCandidates } from '../smpp/message-id.js';
import { describeHeader, readHeader } from '../smpp/pdu.js';
import { commandName } from '../smpp/smpp-lib.js';
import { GroupCommit } from './group-commit.js';
import { retryDelayMs } from './retry-policy.js';
import { backoffMs } from '../backoff.js';
import { DEFAULT_TIMING, workerTiming, type WorkerTiming } from './timing.js';

type OutcomeItem = { kind: 'result'; message: ClaimedMessage; result: SubmitResult } | { kind: 'rematch'; receiptIds: string[]; round: number };

/**
 * A receipt stored unmatched is looked at again behind this worker's next outcome flush (round
 * 0), then after each of these delays while still unmatched: its submit result may be in another
 * worker's transaction, open while this worker stored the receipt and looked again. After the
 * last, the reconcile task (every minute) is what matches it. The defaults of
 * timing.rematchDelaysMs (StoreOptions.timing).
 */
export const REMATCH_DELAYS_MS = DEFAULT_TIMING.rematchDelaysMs;

export interface StoreOptions {
  workerId: string;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /**
   * Reply handlers: a pool of their own for the transactions that store incoming SMS and call
   * them (its connections are reset after each), and how to call them. Without it, no handler
   * is called.
   */
  replies?: { db: Kysely<Database>; options: ReplyHandlerOptions };
  /** Re-match delays and the back-off of a failed flush (src/worker/timing.ts). */
  timing?: Partial<WorkerTiming>;
}

export interface StoreEvents {
  /** Called after each committed flush with what it changed (for metrics and logs), and which group commit it was. */
  onCommitted?: (summary: FlushSummary, kind: 'outcomes' | 'inbound') => void;
  /** Receipts stored unmatched were looked at again: the round (0: behind the next outcome flush), how many, how many matched. */
  onRematched?: (rematch: { round: number; receipts: number; matched: number }) => void;
  /** Called when a flush failed and will be retried: submit results or inbound (receipts and incoming SMS). */
  onWriteRetry?: (what: 'results' | 'inbound') => void;
  /** Called for each incoming PDU parked in sms_inbound_parked. */
  onParked?: (parked: { kind: InboundEvent['kind']; code: string }) => void;
  /** A receipt waits for the submit result of its message id, which this worker is still writing. */
  onReceiptHeld?: (messageId: string) => void;
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
  /** Receipts stored earlier, matched now that their parts are known. */
  lateMatches: number;
  /** Messages that reached a final status from receipts, by that status. */
  finalFromReceipts: Partial<Record<MessageStatus, number>>;
  /** For each receipt that ended its part on arrival: seconds since the part's submit result was stored. */
  receiptLatencies: number[];
  inbox: number;
  /** Parts of concatenated SMS delivered again after their set was assembled: counted, not stored. */
  duplicateParts: number;
  /** Reply handler calls, and how many of them failed (their errors are in sms_handler_error). */
  handlerCalls: number;
  handlerFailures: number;
  /** When the soonest message this flush put back in the queue falls due (ms from the flush), or null. */
  nextRetryInMs: number | null;
}

function emptySummary(): FlushSummary {
  return {
    sent: 0,
    failed: 0,
    retried: 0,
    exhausted: 0,
    fenced: 0,
    receiptsMatched: 0,
    receiptsUnmatched: 0,
    lateMatches: 0,
    finalFromReceipts: {},
    receiptLatencies: [],
    inbox: 0,
    duplicateParts: 0,
    handlerCalls: 0,
    handlerFailures: 0,
    nextRetryInMs: null,
  };
}

export class OutboxStore {
  private readonly outcomes: GroupCommit<OutcomeItem>;
  private readonly inbound: GroupCommit<InboundEvent>;
  /** Flushes and their time since the last `takeStats()`, for the pipeline debug line. */
  private stats = { flushes: 0, items: 0, ms: 0 };
  private readonly retryListeners: ((dueInMs: number) => void)[] = [];
  private readonly rematchTimers = new Set<NodeJS.Timeout>();
  /** Accepted parts' ids (normalized) whose submit result is queued or being written: settles when it is written or given up. */
  private readonly resultsBeingWritten = new Map<string, Promise<void>>();
  private closing = false;
  /** After a handler statement had to be ended: one handler call per statement until a flush succeeds. */
  private handlersOnePerStatement = false;
  private readonly timing: WorkerTiming;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly logger: Logger,
    private readonly options: StoreOptions,
    private readonly events: StoreEvents = {},
  ) {
    this.timing = workerTiming(options.timing);
    const retryDelayMs = (attempt: number) => backoffMs(attempt, this.timing.flushRetry);
    // Only the error's message and SQLSTATE: a Postgres error's detail repeats the refused row.
    const onFlushError = (what: string, kind: 'results' | 'inbound') => (err: unknown, attempt: number, size: number) => {
      this.logger.error({ error: errorForLog(err), attempt, batch: size }, `writing ${what} to Postgres failed; retrying (nothing is acknowledged until it is written)`);
      this.events.onWriteRetry?.(kind);
    };
    this.outcomes = new GroupCommit<OutcomeItem>({ flush: (items) => this.timed(items.length, () => this.writeOutcomes(items)), maxBatch: 2000, retryDelayMs, onFlushError: onFlushError('submit results', 'results') });
    this.inbound = new GroupCommit<InboundEvent>({
      flush: (items) => this.timed(items.length, () => this.writeInbound(items)),
      maxBatch: 2000,
      retryDelayMs,
      onFlushError: onFlushError('receipts and incoming SMS', 'inbound'),
      isolate: { isItemError: isRowError, park: (event, err) => this.park(event, err) },
    });
  }

  /** Resolves once the submit outcome is committed. */
  recordResult(message: ClaimedMessage, result: SubmitResult): Promise<void> {
    const written = this.outcomes.add({ kind: 'result', message, result });
    if (result.outcome === 'accepted') {
      const settled = written.then(noop, noop);
      const ids = result.messageIds.map(normalizeMessageId);
      for (const id of ids) this.resultsBeingWritten.set(id, settled);
      void settled.then(() => {
        for (const id of ids) if (this.resultsBeingWritten.get(id) === settled) this.resultsBeingWritten.delete(id);
      });
    }
    return written;
  }

  /**
   * Resolves once the receipt or incoming part is committed (then deliver_sm_resp may go). A
   * receipt for a part whose submit result this worker is still writing waits for that write:
   * applied before it, it would be stored unmatched and matched again on a second pass (two more
   * row versions, and a worker that falls behind stays behind), or, with an SMSC that reuses ids,
   * match the earlier message of that id and leave this one `sent`.
   */
  recordInbound(event: InboundEvent): Promise<void> {
    if (event.kind === 'receipt') {
      const writing = receiptIdCandidates(event.receipt.messageId).map((id) => this.resultsBeingWritten.get(id)).find((p) => p !== undefined);
      if (writing) {
        this.events.onReceiptHeld?.(event.receipt.messageId);
        return writing.then(() => this.inbound.add(event));
      }
    }
    return this.inbound.add(event);
  }

  /**
   * Calls `listener` after each committed flush that put messages back in the queue (transient
   * errors, unknown outcomes), with how long until the soonest of them falls due: the pump arms
   * its timer with it, so a retry goes out at its back-off time even when the pump is idle.
   */
  onRetriesQueued(listener: (dueInMs: number) => void): void {
    this.retryListeners.push(listener);
  }

  get pending(): number {
    return this.outcomes.pending + this.inbound.pending;
  }

  /** Re-matches waiting for their delay (timing.rematchDelaysMs). */
  get rematchesPending(): number {
    return this.rematchTimers.size;
  }

  takeStats(): { flushes: number; items: number; ms: number } {
    const s = this.stats;
    this.stats = { flushes: 0, items: 0, ms: 0 };
    return s;
  }

  async idle(): Promise<void> {
    await Promise.all([this.outcomes.idle(), this.inbound.idle()]);
    await this.outcomes.idle(); // re-matches queued by the last inbound flush
  }

  /** Receipts still unmatched after a re-match: once more after the next delay, if any is left. */
  private rematchLater(receipts: { id: string; round: number }[]): void {
    if (this.closing) return;
    for (const round of new Set(receipts.map((r) => r.round))) {
      const delay = this.timing.rematchDelaysMs[round];
      if (delay === undefined) continue;
      const receiptIds = receipts.filter((r) => r.round === round).map((r) => r.id);
      const timer = setTimeout(() => {
        this.rematchTimers.delete(timer);
        // Refused once the store is closing: the reconcile task matches them then.
        void this.outcomes.add({ kind: 'rematch', receiptIds, round: round + 1 }).catch(() => {});
      }, delay);
      timer.unref();
      this.rematchTimers.add(timer);
    }
  }

  private noteRematched(rounds: Map<string, number>, matched: Set<string>): void {
    if (!this.events.onRematched) return;
    for (const [round, r] of rematchedByRound(rounds, matched)) this.events.onRematched({ round, ...r });
  }

  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    for (const timer of this.rematchTimers) clearTimeout(timer);
    this.rematchTimers.clear();
    const deadline = Date.now() + timeoutMs;
    await this.inbound.close(timeoutMs);
    await this.outcomes.close(Math.max(0, deadline - Date.now()));
  }

  private async timed(items: number, write: () => Promise<void>): Promise<void> {
    const started = performance.now();
    await write();
    this.stats.flushes++;
    this.stats.items += items;
    this.stats.ms += performance.now() - started;
  }

  private async writeOutcomes(items: OutcomeItem[]): Promise<void> {
    const accepted: { id: string; attempts: number; messageIds: string[]; normalizedIds: string[] }[] = [];
    const unsent: UnsentResult[] = [];
    const rematch: string[] = [];
    /** The re-match round of each receipt looked at again in this flush. */
    const rounds = new Map<string, number>();
    for (const item of items) {
      if (item.kind === 'rematch') {
        rematch.push(...item.receiptIds);
        for (const id of item.receiptIds) rounds.set(id, Math.max(item.round, rounds.get(id) ?? 0));
        continue;
      }
      const { message, result } = item;
      if (result.outcome === 'accepted') {
        accepted.push({ id: message.id, attempts: message.attempts, messageIds: result.messageIds, normalizedIds: result.messageIds.map(normalizeMessageId) });
      } else if (result.outcome === 'rejected') {
        unsent.push({
          id: message.id,
          attempts: message.attempts,
          permanent: true,
          errorCode: result.statusName,
          errorMessage: `${result.description} (command_status 0x${result.commandStatus.toString(16).padStart(8, '0')})`,
          delayMs: 0,
        });
      } else {
        unsent.push({
          id: message.id,
          attempts: message.attempts,
          permanent: false,
          errorCode: result.statusName ?? (result.unknown ? 'UNKNOWN_OUTCOME' : 'NOT_SENT'),
          errorMessage: `${result.unknown ? 'outcome unknown' : 'not sent'}: ${result.reason}`,
          delayMs: retryDelayMs(message.attempts, this.options.retryBaseMs, this.options.retryMaxMs),
        });
      }
    }

    const summary = emptySummary();
    const workerId = this.options.workerId;
    // The parts' ids in every form a receipt may use, to find receipts stored before them.
    const candidates = [...new Set(accepted.flatMap((a) => a.normalizedIds.flatMap((id) => receiptIdCandidates(id))))];

    // Usually the whole batch is accepted submits: one statement, committed on its own (no
    // BEGIN/COMMIT round trips). Otherwise one transaction for the lot. Either is safe to repeat
    // when a flush is retried after a failure: rows already written no longer match the fence.
    const write = async (db: Kysely<Database>) => {
      const { sent, waiting: waitingForParts } = await markSent(db, workerId, accepted, candidates);
      const { statuses: unsentStatus, nextDueInMs } = await markUnsent(db, workerId, unsent);
      summary.nextRetryInMs = nextDueInMs;
      summary.sent = sent.size;
      const permanentIds = new Set(unsent.filter((u) => u.permanent).map((u) => u.id));
      for (const [id, status] of unsentStatus) {
        if (permanentIds.has(id)) summary.failed++;
        else if (status === 'failed') summary.exhausted++;
        else summary.retried++;
      }
      summary.fenced = accepted.length + unsent.length - sent.size - unsentStatus.size;
      if (summary.fenced) {
        const lost = [...accepted, ...unsent].filter((r) => !sent.has(r.id) && !unsentStatus.has(r.id));
        this.logger.warn(
          { ids: lost.map((r) => r.id) },
          'submit results for messages this worker no longer held (its lease expired and another worker took them): not applied; a duplicate may have been sent',
        );
      }
      // Receipts already stored that belong to the parts just written, or that an inbound flush
      // running beside the last outcome flush could not match.
      const waiting = new Map<string, StoredReceipt>(waitingForParts.map((w) => [w.id, w]));
      for (const r of await receiptsById(db, rematch)) waiting.set(r.id, r);
      return [...waiting.values()];
    };
    const single = unsent.length === 0 && rematch.length === 0;
    const waiting = single ? await write(this.db) : await this.db.transaction().execute((tx) => write(tx));
    if (waiting.length) {
      // The submit results are committed: a re-match that fails must not make the flush (and so
      // the results) be written again. Its receipts stay stored; they are looked at again later.
      try {
        const matches = await rematchReceipts(this.db, waiting);
        summary.lateMatches = matches.length;
        countFinals(summary, matches);
        const matched = new Set(matches.map((m) => waiting[m.index]!.id));
        this.noteRematched(rounds, matched);
        this.rematchLater(waiting.filter((w) => rounds.has(w.id) && !matched.has(w.id)).map((w) => ({ id: w.id, round: rounds.get(w.id)! })));
      } catch (err) {
        this.logger.warn({ error: errorForLog(err), receipts: waiting.length }, 'matching stored receipts failed; they are looked at again later (and by the reconcile task)');
        this.rematchLater(waiting.map((w) => ({ id: w.id, round: rounds.get(w.id) ?? 0 })));
        this.noteRematched(rounds, new Set());
      }
    } else if (rounds.size) {
      this.noteRematched(rounds, new Set());
    }
    this.events.onCommitted?.(summary, 'outcomes');
    if (summary.nextRetryInMs !== null) for (const listener of this.retryListeners) listener(summary.nextRetryInMs);
  }

  private async writeInbound(events: InboundEvent[]): Promise<void> {
    // Receipts alone (the usual batch) need no transaction: applying one again after a failed
    // flush changes nothing, so each statement commits on its own. Incoming SMS parts are stored
    // and assembled under a transaction-level lock, so a batch with them is one transaction.
    const written = events.some((e) => e.kind === 'mo') ? await this.writeWithIncoming(events) : await writeInbound(this.db, events);
    // Unmatched receipts may belong to an outcome batch that was open beside this one: look
    // again behind it. (Not awaited: the receipts are stored, their deliver_sm may be answered.)
    if (written.unmatchedIds.length) void this.outcomes.add({ kind: 'rematch', receiptIds: written.unmatchedIds, round: 0 }).catch(() => {});
    const summary = emptySummary();
    summary.receiptsMatched = written.matches.length;
    summary.receiptsUnmatched = written.unmatchedIds.length;
    summary.receiptLatencies = written.matches.flatMap((m) => (m.latencySeconds === null ? [] : [m.latencySeconds]));
    countFinals(summary, written.matches);
    summary.inbox = written.inbox;
    summary.duplicateParts = written.duplicateParts;
    summary.handlerCalls = written.handlers.calls;
    summary.handlerFailures = written.handlers.failed;
    this.events.onCommitted?.(summary, 'inbound');
  }

  /** A batch with incoming SMS: one transaction, on the handlers' pool when there are handlers to call. */
  private async writeWithIncoming(events: InboundEvent[]): Promise<InboundWritten> {
    const replies = this.options.replies;
    if (!replies) return this.db.transaction().execute((tx) => writeInbound(tx, events));
    let stuck: { ruleId: string | null } | undefined;
    try {
      const written = await withHandlerConnection(replies.db, (conn, ran) =>
        conn.transaction().execute((tx) =>
          writeInbound(tx, events, { options: replies.options, onePerStatement: this.handlersOnePerStatement, ran, onStuck: (ruleId) => (stuck = { ruleId }) }),
        ),
      );
      this.handlersOnePerStatement = false;
      return written;
    } catch (err) {
      if (stuck) {
        // Written again one handler call per statement, so the one that hangs is known (and its rule suspended).
        this.handlersOnePerStatement = true;
        this.logger.error(
          { ruleId: stuck.ruleId },
          stuck.ruleId !== null
            ? `the reply handler of rule ${stuck.ruleId} did not stop when cancelled: its session was ended and the rule suspended; writing the batch again`
            : 'a reply handler did not stop when cancelled: its session was ended; writing the batch again, one handler call per statement',
        );
      }
      throw err;
    }
  }

  /** Keeps a PDU Postgres refused, whole, with the error; logged by its header, never its body. */
  private async park(event: InboundEvent, err: unknown): Promise<void> {
    const [sender, recipient] = event.kind === 'mo' ? [event.part.source, event.part.destination] : [event.receipt.source, event.receipt.destination];
    const code = errorCode(err);
    const id = await parkPdu(this.db, { kind: event.kind, pdu: event.pdu, sender, recipient }, { code, message: err instanceof Error ? err.message : String(err) });
    this.logger.warn(
      { parkedId: id, kind: event.kind, ...describeHeader(readHeader(event.pdu), commandName), error: errorForLog(err) },
      'Postgres refused an incoming PDU: parked in sms_inbound_parked and acknowledged (after fixing the cause: select sms_inbound_replay(id))',
    );
    this.events.onParked?.({ kind: event.kind, code });
  }
}

function noop(): void {}

/** What a re-match flush did, per round, for StoreEvents.onRematched. */
function rematchedByRound(rounds: Map<string, number>, matched: Set<string>): Map<number, { receipts: number; matched: number }> {
  const byRound = new Map<number, { receipts: number; matched: number }>();
  for (const [id, round] of rounds) {
    const r = byRound.get(round) ?? { receipts: 0, matched: 0 };
    r.receipts++;
    if (matched.has(id)) r.matched++;
    byRound.set(round, r);
  }
  return byRound;
}

function countFinals(summary: FlushSummary, matches: ReceiptMatch[]): void {
  const finals = new Map<string, MessageStatus>();
  for (const m of matches) if (m.finalStatus) finals.set(m.outboxId, m.finalStatus);
  for (const status of finals.values()) summary.finalFromReceipts[status] = (summary.finalFromReceipts[status] ?? 0) + 1;
}
