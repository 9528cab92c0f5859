-- sms_private.pumping_stats: a number range's figures at p_at from its one-minute buckets, never
-- from the codes themselves: at most conversion_window / 1 minute rows of one range.
--   settled         codes whose fate is known: sent in a bucket whose codes are all past their
--                   validity (bucket end + validity <= p_at), plus those confirmed earlier
--   confirmed       codes confirmed within their validity
--   spike_codes     codes sent in the last spike_window
--   baseline_codes  codes sent in the rest of the window before that
-- p_since (a range on probation): only codes sent from that minute on.
-- PL/pgSQL rather than SQL, so that its query is planned once per session.
create or replace function sms_private.pumping_stats(
  p_range text, p_at timestamptz, p_since timestamptz, window_length interval, spike_window interval, validity interval,
  out settled bigint, out confirmed bigint, out spike_codes bigint, out baseline_codes bigint)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  select coalesce(sum(b.sent) filter (where b.bucket + interval '1 minute' + validity <= p_at), 0)
           + coalesce(sum(b.confirmed) filter (where b.bucket + interval '1 minute' + validity > p_at), 0),
         coalesce(sum(b.confirmed), 0),
         coalesce(sum(b.sent) filter (where b.bucket > p_at - spike_window), 0),
         coalesce(sum(b.sent) filter (where b.bucket <= p_at - spike_window), 0)
    into settled, confirmed, spike_codes, baseline_codes
    from sms_private.pumping_bucket b
   where b.range = p_range
     and b.bucket > p_at - window_length
     and b.bucket <= p_at
     and b.bucket >= coalesce(pg_catalog.date_trunc('minute', p_since), '-infinity'::timestamptz);
end
$$;

comment on function sms_private.pumping_stats(text, timestamptz, timestamptz, interval, interval, interval) is
  'sms-outbox internal: a number range''s settled, confirmed, recent and earlier codes from its one-minute buckets';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_stats(text, timestamptz, timestamptz, interval, interval, interval) from public, sms_sender, sms_reader, sms_worker;
