-- sms_private.pumping_count: a sign-in code went out to recipient: judges its prefix range and
-- its country (sms_private.pumping_judge, this code included), drops a few buckets no window
-- reads any more, and counts the code in the current minute of both. The hook calls it last:
-- the country's bucket of the minute is one row every code of the country updates, locked until
-- the caller commits, so it is written at the end. Returns the prefix range it was counted in,
-- which sms_auth_code keeps for the confirmation; NULL when not counted: the defence is off, or
-- the code is one Supabase Auth does not confirm through auth.users.phone_confirmed_at (an MFA
-- challenge, a reauthentication), which would look like a code nobody confirmed. Such codes are
-- still refused for a blocked range (sms_private.pumping_gate).
create or replace function sms_private.pumping_count(recipient text, sms_type text, p_at timestamptz,
                                                     cfg public.sms_pumping_settings, validity interval)
returns text
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_prefix text := pg_catalog.left(recipient, cfg.prefix_length);
  v_country text := sms_private.pumping_country(recipient);
  v_bucket timestamptz := pg_catalog.date_trunc('minute', p_at);
  v_keep interval := greatest(cfg.conversion_window, cfg.spike_window) + validity + interval '2 minutes';
begin
  if cfg.enabled is not true or coalesce(sms_type in ('mfa', 'reauthentication'), false) then
    return null;
  end if;
  perform sms_private.pumping_judge(v_prefix, 'prefix', p_at, cfg, validity);
  if cfg.judge_countries then
    perform sms_private.pumping_judge(v_country, 'country', p_at, cfg, validity);
  end if;

  delete from sms_private.pumping_bucket d
   where (d.range, d.bucket) in (select o.range, o.bucket from sms_private.pumping_bucket o
                                  where o.bucket < p_at - v_keep
                                  limit 10 for update skip locked);

  -- Always the prefix first, then the country (as sms_private.pumping_confirm): no deadlock.
  insert into sms_private.pumping_bucket as b (range, bucket, sent) values (v_prefix, v_bucket, 1)
  on conflict (range, bucket) do update set sent = b.sent + 1;
  insert into sms_private.pumping_bucket as b (range, bucket, sent) values (v_country, v_bucket, 1)
  on conflict (range, bucket) do update set sent = b.sent + 1;
  return v_prefix;
end
$$;

comment on function sms_private.pumping_count(text, text, timestamptz, public.sms_pumping_settings, interval) is
  'sms-outbox internal: counts a sign-in code sent in its number ranges'' buckets and judges the ranges; returns the prefix range counted in (NULL: not counted)';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_count(text, text, timestamptz, public.sms_pumping_settings, interval) from public, sms_sender, sms_reader, sms_worker;
