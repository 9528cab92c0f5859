import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff, backoffMs } from '../../src/backoff.js';
import { TokenBucket } from '../../src/smpp/rate-limiter.js';

describe('TokenBucket', () => {
  it('grants a burst at once, then paces at the rate (fake clock)', () => {
    let now = 0;
    const b = new TokenBucket(100, 10, () => now);
    let granted = 0;
    while (b.tryAcquire(1)) granted++;
    assert.equal(granted, 10, 'the burst');
    now += 50; // 5 tokens
    granted = 0;
    while (b.tryAcquire(1)) granted++;
    assert.equal(granted, 5);
    now += 10_000;
    granted = 0;
    while (b.tryAcquire(1)) granted++;
    assert.equal(granted, 10, 'never more than the burst after idling');
  });

  it('grants a request larger than the burst from a full bucket and charges the debt', () => {
    let now = 0;
    const b = new TokenBucket(10, 2, () => now);
    assert.equal(b.tryAcquire(5), true);
    assert.equal(b.tryAcquire(1), false);
    now += 300; // 3 tokens pay the debt of 3
    assert.equal(b.tryAcquire(1), false);
    now += 100;
    assert.equal(b.tryAcquire(1), true);
  });

  it('serves waiters in order at the rate (real timers, generous bounds)', async () => {
    const b = new TokenBucket(200, 1);
    const started = performance.now();
    const order: number[] = [];
    await Promise.all(Array.from({ length: 21 }, (_, i) => b.acquire(1).then(() => order.push(i))));
    const elapsed = performance.now() - started;
    assert.deepEqual(order, Array.from({ length: 21 }, (_, i) => i));
    assert.ok(elapsed >= 90, `20 tokens at 200/s took ${elapsed.toFixed(0)} ms`);
  });

  it('rejects an aborted wait and lets the next waiter through', async () => {
    const b = new TokenBucket(50, 1);
    assert.equal(b.tryAcquire(1), true);
    const ac = new AbortController();
    const first = b.acquire(1, ac.signal);
    const second = b.acquire(1);
    ac.abort(new Error('stop'));
    await assert.rejects(first, /stop/);
    await second;
  });
});

describe('Backoff', () => {
  it('doubles with equal jitter within [min, cap] and resets', () => {
    const top = new Backoff(100, 5000, () => 1);
    assert.deepEqual(Array.from({ length: 8 }, () => top.next()), [200, 400, 800, 1600, 3200, 5000, 5000, 5000], 'the top of the range doubles to the cap');
    const bottom = new Backoff(100, 5000, () => 0);
    assert.deepEqual(Array.from({ length: 8 }, () => bottom.next()), [100, 200, 400, 800, 1600, 2500, 2500, 2500], 'the bottom is half of it, never below min');
    assert.equal(top.attempt, 8);
    top.reset();
    assert.equal(top.attempt, 0);
    assert.equal(top.next(), 200, 'from the shortest delay again');
  });

  it('spreads clients that failed together (jitter)', () => {
    const delays = new Set(Array.from({ length: 20 }, () => new Backoff(100, 10_000).next()));
    assert.ok(delays.size > 10);
  });
});

describe('backoffMs', () => {
  it('is base · 2^step capped, times a factor drawn from the jitter range', () => {
    const policy = { baseMs: 2000, maxMs: 300_000, jitter: [0.8, 1.2] as const };
    assert.deepEqual([0, 1, 2, 10, 1000].map((step) => backoffMs(step, policy, () => 0.5)), [2000, 4000, 8000, 300_000, 300_000]);
    assert.equal(backoffMs(0, policy, () => 0), 1600);
    assert.equal(backoffMs(0, policy, () => 1), 2400);
    assert.equal(backoffMs(-3, policy, () => 0.5), 2000, 'a negative step is step 0');
    assert.equal(backoffMs(3, { baseMs: 50, maxMs: 5000, jitter: [1, 1] }, () => { throw new Error('no jitter: no random draw'); }), 400);
  });
});
