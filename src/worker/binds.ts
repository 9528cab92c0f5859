/**
 * SMPP_BINDS: several SMPP sessions from one worker, for carriers that cap the window per bind.
 * The pump submits through Binds, which hands each message to the bound session with the most
 * free window (taking them in turn on a tie); receipts and incoming SMS may arrive on any bind,
 * and every session hands them to the same store. The account-wide SMPP_TPS limiter is one object
 * shared by all of them, and the pump's window is SMPP_WINDOW times the binds.
 */
import type { OutboundMessage, SmppSession, SubmitOptions, SubmitResult } from '../smpp/session.js';

export class Binds {
  private next = 0;

  constructor(readonly sessions: readonly SmppSession[]) {
    if (sessions.length === 0) throw new Error('Binds needs at least one session');
  }

  /** At least one session is bound. */
  get isBound(): boolean {
    return this.sessions.some((s) => s.isBound);
  }

  submit(msg: OutboundMessage, options: SubmitOptions = {}): Promise<SubmitResult> {
    const n = this.sessions.length;
    let best: SmppSession | undefined;
    let bestFree = -Infinity;
    for (let i = 0; i < n; i++) {
      const s = this.sessions[(this.next + i) % n]!;
      if (!s.isBound) continue;
      const free = s.currentWindow - s.windowInUse - s.queuedParts;
      if (free > bestFree) {
        best = s;
        bestFree = free;
      }
    }
    this.next = (this.next + 1) % n;
    // None bound (the pump submits only while one is): the first queues it until it binds.
    return (best ?? this.sessions[0]!).submit(msg, options);
  }
}
