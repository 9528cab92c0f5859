/**
 * What SmppSession's callers and its parts share: the messages it submits and their results,
 * its events, and the context each part (link, submit window, inbound window) works in.
 */
import type { Logger } from '../logger.js';
import type { InboundEvent } from './inbound.js';
import type { InboundWindow } from './inbound-window.js';
import type { Link } from './link.js';
import type { ResolvedSessionOptions } from './session-options.js';
import type { SubmitWindow } from './submit-window.js';

export type SessionState = 'disconnected' | 'connecting' | 'binding' | 'bound' | 'unbinding' | 'closed';

export interface OutboundMessage {
  /** The caller's id (the outbox row), for logs and late-response events. */
  id: string;
  source: string;
  destination: string;
  body: string;
  /** Ask the SMSC for a final delivery receipt (registered_delivery 1). Default true. */
  registeredDelivery?: boolean;
  /** Sent as validity_period (absolute, UTC): the SMSC stops trying after it. */
  validUntil?: Date | null;
}

export interface SubmitOptions {
  /** Aborting gives up on parts not yet on the wire (`retry`, unknown: false once nothing is in flight). */
  signal?: AbortSignal;
}

export type SubmitResult =
  | { outcome: 'accepted'; messageIds: string[] }
  | {
      outcome: 'rejected';
      commandStatus: number;
      statusName: string;
      description: string;
      acceptedIds: string[];
      /** True when the session refused it before sending (bad address, empty or too long body). */
      local?: boolean;
    }
  | { outcome: 'retry'; reason: string; commandStatus?: number; statusName?: string; acceptedIds: string[]; unknown: boolean };

export type InboundHandler = (event: InboundEvent) => Promise<void>;

export interface SessionEvents {
  state: [SessionState];
  bound: [{ systemId: string }];
  disconnected: [{ reason: string }];
  bind_failed: [{ commandStatus: number; statusName: string; credentials: boolean }];
  submit_resp: [{ commandStatus: number; rttMs: number }];
  throttled: [{ commandStatus: number; pauseMs: number; window: number }];
  reconnect: [{ attempt: number; delayMs: number }];
  enquire_link_timeout: [];
  response_timeout: [{ messageId: string; part: number }];
  late_response: [{ messageId: string; part: number; commandStatus: number; smscMessageId: string | null }];
  pdu_error: [{ error: Error }];
  inbound_error: [{ error: unknown; event: InboundEvent }];
  /** Reading stopped: `pending` deliver_sm are held unanswered (the inbound window is full). */
  inbound_paused: [{ pending: number }];
  /** A part refused with validity_period was accepted without it: none is sent for the rest of this bind. */
  validity_refused: [{ commandStatus: number; statusName: string }];
}

/** What the link, the submit window and the inbound window of one session reach each other through. */
export interface SessionContext {
  readonly o: ResolvedSessionOptions;
  readonly log: Logger;
  readonly random: () => number;
  emit<K extends keyof SessionEvents>(event: K, ...args: SessionEvents[K]): void;
  /** stop() was called: nothing new is sent, the link is not re-established. */
  readonly stopping: boolean;
  /** Aborted when the session stops (ends waits for rate tokens). */
  readonly lifecycle: AbortSignal;
  readonly link: Link;
  readonly window: SubmitWindow;
  readonly inbound: InboundWindow;
  /** Wakes stop() when nothing is outstanding any more. */
  checkDrained(): void;
}
