/**
 * A clock for the pumping defence's tests and its replay: sms_private.pumping_now() (the time the
 * Send SMS Hook and the defence go by, now() in production) is replaced, in the test's own
 * database, by one that reads a one-row table, so a test moves time forward by an UPDATE instead
 * of sleeping, and every connection (Supabase Auth's included) sees the same time.
 */
import type pg from 'pg';

/** Replaces sms_private.pumping_now() in this database by the test clock, set to `at`. */
export async function installClock(owner: pg.Pool | pg.ClientBase, at: Date): Promise<void> {
  await owner.query(`
    create table if not exists sms_private.test_clock (id boolean primary key default true check (id), at timestamptz not null);
    insert into sms_private.test_clock (at) values ('${at.toISOString()}') on conflict (id) do update set at = excluded.at;
    create or replace function sms_private.pumping_now() returns timestamptz
    language sql stable set search_path = pg_catalog, pg_temp
    as $$ select coalesce((select c.at from sms_private.test_clock c), pg_catalog.now()) $$;`);
}

/** Sets the test clock. */
export async function setClock(owner: pg.Pool | pg.ClientBase, at: Date): Promise<void> {
  await owner.query('update sms_private.test_clock set at = $1', [at]);
}

/** The defence's settings as a test wants them, the rest at their defaults. */
export async function pumpingSettings(owner: pg.Pool | pg.ClientBase, settings: Record<string, unknown>): Promise<void> {
  const keys = Object.keys(settings);
  if (keys.length === 0) return;
  await owner.query(`update sms_pumping_settings set ${keys.map((k, i) => `${k} = $${i + 1}`).join(', ')}`, keys.map((k) => settings[k]));
}

/** Every default of sms_pumping_settings back (watching_since aside). */
export async function resetPumping(owner: pg.Pool | pg.ClientBase): Promise<void> {
  await owner.query(`
    update sms_pumping_settings set enabled = default, prefix_length = default, judge_countries = default,
           conversion_window = default, min_codes = default, country_min_codes = default, min_conversion = default, good_conversion = default,
           spike_window = default, spike_factor = default, spike_min_codes = default, probation_codes = default,
           throttle_per_minute = default, cooldown = default, max_cooldown = default, message = default;
    delete from sms_private.pumping_bucket; delete from sms_private.pumping_range; delete from sms_pumping_decision;`);
}
