-- sms_private.pumping_count: a sign-in code went out to recipient, counted in prefix range p_prefix
-- (the hook's choice, kept in sms_auth_code.pumping_range; NULL: not counted, see the hook):
-- judges the prefix range and the country (sms_private.pumping_judge, this code included), drops
-- a few buckets no window reads any more, and counts the code in the current minute of both, in
-- this session's own row of each bucket (shard: pg_backend_pid()). A row stays locked until the
-- caller commits, and only this session writes it: a code to the same country counted by
-- another session at the same moment does not wait for this one's commit.
create or replace function sms_private.pumping_count(recipient text, p_prefix text, p_at timestamptz,
                                                     cfg public.sms_pumping_settings, validity interval)
returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  v_country text := sms_private.pumping_country(recipient);
  v_bucket timestamptz := pg_catalog.date_trunc('minute', p_at);
  v_shard integer := pg_catalog.pg_backend_pid();
  v_keep interval := greatest(cfg.conversion_window, cfg.spike_window) + validity + interval '2 minutes';
begin
  if cfg.enabled is not true or p_prefix is null then
    return;
  end if;
  perform sms_private.pumping_judge(p_prefix, 'prefix', p_at, cfg, validity);
  if cfg.judge_countries then
    perform sms_private.pumping_judge(v_country, 'country', p_at, cfg, validity);
  end if;

  -- The oldest first, by the index on bucket: a few rows read, however many buckets there are.
  delete from sms_private.pumping_bucket d
   where (d.range, d.bucket, d.shard) in (select o.range, o.bucket, o.shard from sms_private.pumping_bucket o
                                  where o.bucket < p_at - v_keep
                                  order by o.bucket
                                  limit 10 for update skip locked);

  -- Always the prefix first, then the country (as sms_private.pumping_confirm).
  insert into sms_private.pumping_bucket as b (range, bucket, shard, sent) values (p_prefix, v_bucket, v_shard, 1)
  on conflict (range, bucket, shard) do update set sent = b.sent + 1;
  insert into sms_private.pumping_bucket as b (range, bucket, shard, sent) values (v_country, v_bucket, v_shard, 1)
  on conflict (range, bucket, shard) do update set sent = b.sent + 1;
end
$$;

comment on function sms_private.pumping_count(text, text, timestamptz, public.sms_pumping_settings, interval) is
  'sms-outbox internal: judges a sign-in code''s number ranges and counts it in their buckets';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_count(text, text, timestamptz, public.sms_pumping_settings, interval) from public, sms_sender, sms_reader, sms_worker;
