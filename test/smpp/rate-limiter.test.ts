import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from '../../src/smpp/backoff.js';
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
  it('grows with decorrelated jitter within [min, cap] and resets', () => {
    const b = new Backoff(100, 5000, () => 1);
    const delays = Array.from({ length: 8 }, () => b.next());
    assert.deepEqual(delays.slice(0, 4), [300, 900, 2700, 5000], 'at most three times the previous delay');
    assert.ok(delays.every((d) => d >= 100 && d <= 5000));
    assert.ok(delays.every((d, i) => i === 0 || d >= (delays[i - 1] as number)), `non-decreasing at the top of the range: ${delays}`);
    assert.equal(delays[delays.length - 1], 5000, 'reaches the cap');
    assert.equal(b.attempt, 8);
    b.reset();
    assert.equal(b.attempt, 0);
    assert.ok(b.next() <= 300);
  });

  it('spreads clients that failed together (jitter)', () => {
    const delays = new Set(Array.from({ length: 20 }, () => new Backoff(100, 10_000).next()));
    assert.ok(delays.size > 10);
  });
});
