-- sms_private.claim(worker_id, max_rows, lease_seconds): queued → sending. Claims up to max_rows
-- due rows (queued, next_attempt_at reached), highest priority first then oldest, skipping rows
-- another worker is claiming (FOR UPDATE SKIP LOCKED): each row taken is `sending`, its attempt
-- counted, held by worker_id until now() + lease_seconds (the worker renews the lease; another
-- worker takes back a lease that lapsed: sms_private.reclaim_expired_leases). One index probe per
-- priority level (sms_outbox_due_idx), so a backlog of rows scheduled for later never slows it.
--
-- Two kinds of rows are finished here instead of sent, and returned with their final status:
-- rows already past expires_at become `expired`, and marketing rows whose recipient opted out
-- after they were enqueued become `rejected` (error_code OPTED_OUT). The places the opted-out
-- rows took are claimed again, so the claim comes back short of max_rows only when the due rows
-- ran out. Returns the rows it changed; `attempts` is the attempt this claim is (the worker's
-- result writes are fenced on it).
create or replace function sms_private.claim(worker_id text, max_rows integer, lease_seconds double precision)
returns table (id uuid, status text, recipient text, sender text, body text, encoding text, segments integer,
               priority integer, attempts integer, next_attempt_at timestamptz, expires_at timestamptz)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
as $$
declare
  want integer := max_rows;
  taken integer;
  opted_out integer;
begin
  loop
    taken := 0;
    opted_out := 0;
    for id, status, recipient, sender, body, encoding, segments, priority, attempts, next_attempt_at, expires_at in
      with picked as (
        select c.id,
               case when c.expires_at <= now() then 'expired'
                    when c.category = 'marketing' and exists (select from public.sms_opt_out x where x.recipient = c.recipient) then 'rejected'
                    else 'sending' end as outcome
          from generate_series(10, -10, -1) as p(priority)
          cross join lateral (
            select o.id, o.expires_at, o.category, o.recipient
              from public.sms_outbox o
             where o.status = 'queued' and o.priority = p.priority and o.next_attempt_at <= now()
             order by o.next_attempt_at
             limit want
               for update skip locked
          ) c
         limit want
      ), claimed as (
        update public.sms_outbox o
           set status = picked.outcome,
               attempts = o.attempts + case when picked.outcome = 'sending' then 1 else 0 end,
               lease_until = case when picked.outcome = 'sending' then now() + make_interval(secs => lease_seconds) end,
               worker_id = case when picked.outcome = 'sending' then claim.worker_id end,
               done_at = case when picked.outcome <> 'sending' then now() end,
               error_code = case picked.outcome when 'rejected' then 'OPTED_OUT' else o.error_code end,
               error_message = case picked.outcome when 'expired' then sms_private.error_message('expired')
                                                   when 'rejected' then sms_private.error_message('opted_out') else o.error_message end,
               updated_at = now()
          from picked
         where o.id = picked.id
        -- A sign-in code is not in sms_outbox.body (body_length set, redacted_at not yet): the
        -- worker alone reads it from sms_outbox_secret (migration 0019).
        returning o.id, o.status, o.recipient, o.sender,
                  case when o.body_length is not null and o.redacted_at is null
                       then (select s.body from public.sms_outbox_secret s where s.outbox_id = o.id) else o.body end as body,
                  o.encoding, o.segments, o.priority::integer, o.attempts, o.next_attempt_at, o.expires_at,
                  case when o.status <> 'sending' then sms_private.announce_status(o.id, o.status) end as announced
      )
      select c.id, c.status, c.recipient, c.sender, c.body, c.encoding, c.segments, c.priority, c.attempts,
             c.next_attempt_at, c.expires_at
        from claimed c
    loop
      taken := taken + 1;
      if status = 'rejected' then
        opted_out := opted_out + 1;
      end if;
      return next;
    end loop;
    exit when opted_out = 0 or taken < want;
    want := opted_out;
  end loop;
end
$$;

comment on function sms_private.claim(text, integer, double precision) is
  'sms-outbox internal: the worker''s claim: up to max_rows due queued rows become sending (held by worker_id for lease_seconds), expired or rejected (opted out); returns them';

revoke all on function sms_private.claim(text, integer, double precision) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.claim(text, integer, double precision) to sms_worker;
