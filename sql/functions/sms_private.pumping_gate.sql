-- sms_private.pumping_gate: may a sign-in code go to this number now, as far as the pumping
-- defence is concerned? NULL when it may; otherwise the hook's answer (429, the settings'
-- message, and the reason: range_blocked or range_throttled). Reads the decisions of the
-- number's prefix range and country (two primary-key reads), and buckets only when one is in
-- force. Writes nothing: a refusal is rolled back by Supabase Auth anyway, so whatever must
-- last (a decision) is written when a code is sent (sms_private.pumping_judge).
--
--   * a pin of the prefix wins: 'closed' refuses, 'open' lets through whatever its country's state;
--   * the prefix blocked: refused; throttled: refused once it got throttle_per_minute codes
--     this minute;
--   * then the country the same way (a pin of the country, a block, a throttle), except for a
--     prefix that proves good on its own (a confirmation, and good_conversion): a range that
--     converts is never slowed by another's attack.
create or replace function sms_private.pumping_gate(recipient text, p_at timestamptz, cfg public.sms_pumping_settings, validity interval)
returns jsonb
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_prefix text := pg_catalog.left(recipient, cfg.prefix_length);
  v_country text := sms_private.pumping_country(recipient);
  p sms_private.pumping_range;
  c sms_private.pumping_range;
  s record;
  v_sent integer;
begin
  if cfg.enabled is not true then
    return null;
  end if;
  select * into p from sms_private.pumping_range r where r.range = v_prefix;
  if p.pin = 'closed' or p.blocked_until > p_at then
    return sms_private.pumping_refusal('range_blocked', cfg);
  elsif p.pin = 'open' then
    return null;
  elsif p.throttled_until > p_at then
    select sum(b.sent) into v_sent from sms_private.pumping_bucket b where b.range = v_prefix and b.bucket = pg_catalog.date_trunc('minute', p_at);
    if coalesce(v_sent, 0) >= cfg.throttle_per_minute then
      return sms_private.pumping_refusal('range_throttled', cfg);
    end if;
  end if;

  select * into c from sms_private.pumping_range r where r.range = v_country;
  if c.pin = 'open' or c.range is null
     or (c.pin is null and coalesce(c.blocked_until <= p_at, true) and coalesce(c.throttled_until <= p_at, true)) then
    return null;
  end if;
  if c.pin is null then
    -- A decision on the whole country: not for a prefix that converts on its own.
    s := sms_private.pumping_stats(v_prefix, p_at, null, cfg.conversion_window, cfg.spike_window, validity);
    if s.confirmed >= 1 and s.confirmed >= cfg.good_conversion::numeric * s.settled then
      return null;
    end if;
  end if;
  if c.pin = 'closed' or c.blocked_until > p_at then
    return sms_private.pumping_refusal('range_blocked', cfg);
  end if;
  select sum(b.sent) into v_sent from sms_private.pumping_bucket b where b.range = v_country and b.bucket = pg_catalog.date_trunc('minute', p_at);
  if coalesce(v_sent, 0) >= cfg.throttle_per_minute then
    return sms_private.pumping_refusal('range_throttled', cfg);
  end if;
  return null;
end
$$;

comment on function sms_private.pumping_gate(text, timestamptz, public.sms_pumping_settings, interval) is
  'sms-outbox internal: NULL when the pumping defence lets a sign-in code go to this number now, else the hook''s 429 answer';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_gate(text, timestamptz, public.sms_pumping_settings, interval) from public, sms_sender, sms_reader, sms_worker;
