-- sms_private.pumping_judge: looks at one number range as a code is sent to it and takes a
-- decision when one is due, as a row of sms_pumping_decision and the range's state in
-- sms_private.pumping_range. Runs in the transaction of a code that goes out (Supabase Auth
-- commits it), never in one that is refused (Auth rolls those back). Decisions, in this order:
--
--   block     min_codes settled codes in conversion_window (country_min_codes for a country
--             not throttled for a spike; probation_codes since the end of the last block, for a
--             range on probation) and fewer than min_conversion of them
--             confirmed: blocked for cooldown, doubled for each block before (up to
--             max_cooldown), then on probation (throttled) for another cooldown, judged only on
--             the codes sent from then on;
--   release   a throttled range (probation or spike) with probation_codes settled and
--             good_conversion of them confirmed: open again (and its earlier blocks forgotten);
--   throttle  an open range that got spike_min_codes in spike_window, spike_factor times its
--             own rate over the rest of conversion_window, and does not prove good
--             (a confirmation and good_conversion): throttled for cooldown. Only once the
--             defence has counted for a conversion_window (watching_since), so that the first
--             hour does not see every range as new.
--
-- A country is judged on the codes its prefixes under a decision do not explain: the codes of
-- a prefix blocked or throttled within conversion_window are taken out of its country's figures
-- (an attack on one prefix, already dealt with, is not held against the rest of its country).
--
-- A pinned range is not judged. Concurrent calls for a range take one decision: the state row's
-- update is conditional, and only the call whose update went through writes the decision.
create or replace function sms_private.pumping_judge(p_range text, p_level text, p_at timestamptz,
                                                     cfg public.sms_pumping_settings, validity interval)
returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  st sms_private.pumping_range;
  s record;
  x record;
  v_settled bigint;
  v_confirmed bigint;
  v_spike bigint;
  v_baseline bigint;
  v_probation boolean;
  v_throttled boolean;
  v_need integer;
  v_until timestamptz;
  v_evidence jsonb;
  v_rest double precision;
begin
  select * into st from sms_private.pumping_range r where r.range = p_range;
  if st.pin is not null or st.blocked_until > p_at then
    return;
  end if;
  v_throttled := coalesce(st.throttled_until > p_at, false);
  v_probation := v_throttled and st.judged_since is not null;
  s := sms_private.pumping_stats(p_range, p_at, case when v_probation then st.judged_since end,
                                 cfg.conversion_window, cfg.spike_window, validity);
  v_settled := s.settled;
  v_confirmed := s.confirmed;
  v_spike := s.spike_codes + 1;  -- the code being sent, not yet in its bucket
  v_baseline := s.baseline_codes;
  if p_level = 'country' then
    for x in
      select f.*
        from sms_private.pumping_range r
       cross join lateral sms_private.pumping_stats(r.range, p_at, case when v_probation then st.judged_since end,
                                                    cfg.conversion_window, cfg.spike_window, validity) f
       where pg_catalog.length(r.range) > 3 and pg_catalog.starts_with(r.range, p_range)
         and (r.blocked_until > p_at - cfg.conversion_window or r.throttled_until > p_at - cfg.conversion_window)
    loop
      v_settled := v_settled - x.settled;
      v_confirmed := v_confirmed - x.confirmed;
      v_spike := v_spike - x.spike_codes;
      v_baseline := v_baseline - x.baseline_codes;
    end loop;
  end if;
  v_evidence := pg_catalog.jsonb_build_object(
    'settled', v_settled, 'confirmed', v_confirmed,
    'conversion', case when v_settled > 0 then pg_catalog.round(v_confirmed::numeric / v_settled, 3) end,
    'spike_codes', v_spike, 'baseline_codes', v_baseline,
    'probation', v_probation, 'strikes', coalesce(st.strikes, 0));
  -- A country throttled for a spike already stands out: min_codes will do.
  v_need := case when v_probation then cfg.probation_codes
                 when p_level = 'country' and not v_throttled then cfg.country_min_codes
                 else cfg.min_codes end;

  if v_settled >= v_need and v_confirmed < cfg.min_conversion::numeric * v_settled then
    v_until := p_at + least(cfg.cooldown * pg_catalog.power(2, least(coalesce(st.strikes, 0), 20)), cfg.max_cooldown);
    insert into sms_private.pumping_range as r (range, blocked_until, throttled_until, judged_since, strikes, updated_at)
    values (p_range, v_until, v_until + cfg.cooldown, v_until, 1, p_at)
    on conflict (range) do update
       set blocked_until = excluded.blocked_until, throttled_until = excluded.throttled_until,
           judged_since = excluded.judged_since, strikes = r.strikes + 1, updated_at = excluded.updated_at
     where r.pin is null and coalesce(r.blocked_until <= p_at, true);
    if found then
      insert into public.sms_pumping_decision (decided_at, range, level, action, reason, until, evidence)
      values (p_at, p_range, p_level, 'block', 'low_conversion', v_until,
              v_evidence || pg_catalog.jsonb_build_object('probation_until', v_until + cfg.cooldown));
    end if;
  elsif v_throttled then
    if v_settled >= cfg.probation_codes and v_confirmed >= 1 and v_confirmed >= cfg.good_conversion::numeric * v_settled then
      update sms_private.pumping_range r
         set throttled_until = p_at, judged_since = null, strikes = 0, updated_at = p_at
       where r.range = p_range and r.pin is null and r.throttled_until > p_at and coalesce(r.blocked_until <= p_at, true);
      if found then
        insert into public.sms_pumping_decision (decided_at, range, level, action, reason, until, evidence)
        values (p_at, p_range, p_level, 'release', 'converting', null, v_evidence);
      end if;
    end if;
  elsif v_spike >= cfg.spike_min_codes
        and p_at >= cfg.watching_since + cfg.conversion_window
        and not (v_confirmed >= 1 and v_confirmed >= cfg.good_conversion::numeric * v_settled) then
    -- Codes a spike_window at the rate of the rest of the window.
    v_rest := pg_catalog.date_part('epoch', cfg.conversion_window - cfg.spike_window);
    if v_spike > cfg.spike_factor * v_baseline * pg_catalog.date_part('epoch', cfg.spike_window) / v_rest then
      v_until := p_at + cfg.cooldown;
      insert into sms_private.pumping_range as r (range, throttled_until, updated_at)
      values (p_range, v_until, p_at)
      on conflict (range) do update
         set throttled_until = excluded.throttled_until, judged_since = null, updated_at = excluded.updated_at
       where r.pin is null and coalesce(r.blocked_until <= p_at, true) and coalesce(r.throttled_until <= p_at, true);
      if found then
        insert into public.sms_pumping_decision (decided_at, range, level, action, reason, until, evidence)
        values (p_at, p_range, p_level, 'throttle', 'volume_spike', v_until, v_evidence);
      end if;
    end if;
  end if;
end
$$;

comment on function sms_private.pumping_judge(text, text, timestamptz, public.sms_pumping_settings, interval) is
  'sms-outbox internal: takes the pumping defence''s decision on a number range (block, release, throttle) when one is due, after a code was sent to it';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_judge(text, text, timestamptz, public.sms_pumping_settings, interval) from public, sms_sender, sms_reader, sms_worker;
