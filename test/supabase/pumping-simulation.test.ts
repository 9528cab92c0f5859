/**
 * The replay of a day of sign-ins with SMS pumping mixed in (./pumping-simulation.ts), held to the
 * goals: at least 95% of the attack codes refused, under 0.5% of the legitimate ones, the fast
 * attacks engaged within a minute, every attack in scope engaged. The figures are printed as the
 * test's diagnostics. The same seed replays the same day.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dayOfEvents, formatReport, simulate } from './pumping-simulation.js';

test('the same seed makes the same day', () => {
  assert.deepEqual(dayOfEvents(7, 500, 0.85), dayOfEvents(7, 500, 0.85));
  assert.notDeepEqual(dayOfEvents(7, 500, 0.85), dayOfEvents(8, 500, 0.85));
});

test('a day of sign-ins with pumping mixed in: >= 95% of attack codes refused, < 0.5% of legitimate ones', { timeout: 900_000 }, async (t) => {
  const r = await simulate({ seed: 1, legit: 4000 });
  for (const line of formatReport(r, true).split('\n')) t.diagnostic(line);
  assert.ok(r.legit.attempts > 3500, `${r.legit.attempts} legitimate sign-ins`);
  assert.ok(r.legit.refusedShare < 0.005, `legitimate codes refused: ${r.legit.refusedShare}`);
  assert.ok(r.attack.refusedShare >= 0.95, `attack codes refused: ${r.attack.refusedShare}`);
  for (const a of r.attacks.filter((x) => !x.outOfScope)) {
    assert.notEqual(a.secondsToEngage, null, `${a.name} engaged`);
    assert.ok(a.refusedShare >= 0.9, `${a.name}: ${a.refusedShare} refused`);
  }
  for (const name of ['fast-ru', 'fast-by']) {
    const a = r.attacks.find((x) => x.name === name)!;
    assert.ok(a.secondsToEngage! <= 60, `${name} engaged after ${a.secondsToEngage} s`);
  }
  assert.ok(r.decisions.length > 0);
});
