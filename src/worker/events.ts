/**
 * What the worker's parts did, as typed events on one bus (WorkerHandle.events): for metrics and
 * logs, and for tests, which wait for what happened instead of for time passing. Emitting is
 * synchronous and a listener that throws is logged by no one: listeners must not throw.
 */
import { EventEmitter } from 'node:events';
import type { FlushSummary } from './store.js';

export interface WorkerEventMap {
  /** A claim ran: rows now held, and rows found past expires_at (marked expired, not sent). */
  claimed: [{ count: number; expired: number }];
  /** A claimed row's submit_sm went to the session. */
  dispatched: [{ id: string }];
  /** The session gave its outcome for a message (before the store writes it). */
  submitted: [{ id: string; outcome: 'accepted' | 'rejected' | 'retry' }];
  /** A group-commit flush committed: submit outcomes (and re-matches) or receipts and incoming SMS. */
  flushed: [{ kind: 'outcomes' | 'inbound'; summary: FlushSummary }];
  /** Receipts stored unmatched were looked at again (round 0: behind the next outcome flush). */
  rematched: [{ round: number; receipts: number; matched: number }];
  /**
   * The pump ran out of due work: nothing claimed is left, the wake-up is armed, the timer for
   * the next scheduled row is set. `quiet`: no re-check (after re-arming) nor flow poll is
   * pending either, so only a NOTIFY, a kick or that timer makes it claim again.
   */
  idle: [{ quiet: boolean }];
  /** The lease keeper took back rows whose worker stopped renewing. */
  reclaimed: [{ requeued: number; failed: number }];
}

/** An EventEmitter whose event names and arguments are checked against `M`. */
export class TypedEmitter<M extends { [K in keyof M]: unknown[] }> {
  private readonly emitter = new EventEmitter();

  constructor() {
    // Tests may wait for many things at once.
    this.emitter.setMaxListeners(0);
  }

  on<K extends keyof M & string>(event: K, listener: (...args: M[K]) => void): this {
    this.emitter.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof M & string>(event: K, listener: (...args: M[K]) => void): this {
    this.emitter.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof M & string>(event: K, listener: (...args: M[K]) => void): this {
    this.emitter.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  emit<K extends keyof M & string>(event: K, ...args: M[K]): boolean {
    return this.emitter.emit(event, ...args);
  }

  listenerCount<K extends keyof M & string>(event: K): number {
    return this.emitter.listenerCount(event);
  }
}

export class WorkerEvents extends TypedEmitter<WorkerEventMap> {}

export const WORKER_EVENT_NAMES: readonly (keyof WorkerEventMap)[] = ['claimed', 'dispatched', 'submitted', 'flushed', 'rematched', 'idle', 'reclaimed'];
