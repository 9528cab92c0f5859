/**
 * The answer a submit_sm gets when faults are injected: the connection cut on the Nth submit,
 * ESME_RINVEXPIRY for a validity_period (refuseValidityPeriod), an error for the next submits, responses dropped (the next N, or at a rate), throttling at a rate,
 * an error for the next submits to a number, or permanent errors for chosen numbers; else
 * accepted. Checked in that order, one fault per submit. And when the answer goes: at once, after
 * responseDelayMs, or when the test releases it (holdResponses).
 */
import { STATUS } from '../smpp/command-status.js';
import type { ResolvedOptions, SimulatorOptions } from './types.js';

export interface SubmitAnswer {
  /** command_status to answer (0: accepted). */
  status: number;
  /** Never answered. */
  drop: boolean;
  /** The connection is closed instead of answering. */
  cut: boolean;
}

export class SubmitFaults {
  private submitsUntilClose: number | null = null;
  /** failNextSubmitsTo, counted down. */
  private failuresLeft = new Map<string, { status: number; times: number }>();
  /** The next submit_sm to answer with a chosen command_status (failNext). */
  private next = { count: 0, status: 0 };
  /** submit_sm_resp held by holdResponses, in arrival order. */
  private held: (() => void)[] = [];

  constructor(
    private readonly options: ResolvedOptions,
    private readonly random: () => number,
  ) {}

  /** Takes the counted faults of changed options (closeAfterSubmits, failNextSubmitsTo). */
  configure(partial: Partial<SimulatorOptions>): void {
    if (partial.closeAfterSubmits !== undefined) this.submitsUntilClose = partial.closeAfterSubmits;
    if (partial.failNextSubmitsTo !== undefined) {
      this.failuresLeft = new Map(Object.entries(partial.failNextSubmitsTo).map(([destination, f]) => [destination, { ...f }]));
    }
  }

  /** Answers the next `count` submit_sm with `status`; 0 clears it. */
  failNext(count: number, status: number): void {
    this.next = count > 0 ? { count, status } : { count: 0, status: 0 };
  }

  get pendingFailures(): { count: number; status: number } {
    return { ...this.next };
  }

  /** Sends a submit_sm_resp (`send`) now, after responseDelayMs, or once released (holdResponses). */
  respond(send: () => void): void {
    if (this.options.holdResponses) this.held.push(send);
    else if (this.options.responseDelayMs > 0) setTimeout(send, this.options.responseDelayMs);
    else send();
  }

  /** Sends the submit_sm_resp held so far (holdResponses), in order; returns how many. */
  releaseHeld(): number {
    const held = this.held.splice(0);
    for (const send of held) send();
    return held.length;
  }

  /** The answer of the submit_sm to `destination` that just arrived (counted faults count down). */
  answer(destination: string, validityPeriod: string): SubmitAnswer {
    const o = this.options;
    if (this.submitsUntilClose !== null && --this.submitsUntilClose <= 0) {
      this.submitsUntilClose = null;
      o.closeAfterSubmits = null;
      return { status: 0, drop: false, cut: true };
    }
    if (o.refuseValidityPeriod && validityPeriod !== '') return { status: STATUS.ESME_RINVEXPIRY, drop: false, cut: false };
    if (this.next.count > 0) {
      this.next.count--;
      return { status: this.next.status, drop: false, cut: false };
    }
    if (o.dropNextResponses > 0) {
      o.dropNextResponses--;
      return { status: 0, drop: true, cut: false };
    }
    if (o.dropResponseRate > 0 && this.random() < o.dropResponseRate) return { status: 0, drop: true, cut: false };
    if (o.throttleRate > 0 && this.random() < o.throttleRate) return { status: o.throttleStatus, drop: false, cut: false };
    const failure = this.failuresLeft.get(destination);
    const reject = o.rejectDestinations[destination];
    if (failure && failure.times > 0) {
      failure.times--;
      return { status: failure.status, drop: false, cut: false };
    }
    return { status: reject ?? 0, drop: false, cut: false };
  }
}
