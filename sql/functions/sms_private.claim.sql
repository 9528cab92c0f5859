-- sms_private.claim(worker_id, max_rows, lease_seconds): queued → sending. Claims up to max_rows
-- due rows (queued, next_attempt_at reached, not held by a worker), highest priority first then
-- oldest, skipping rows another transaction has locked (FOR UPDATE SKIP LOCKED: another worker's
-- claim, an sms_cancel): each row taken gets a lease in sms_private.outbox_lease (migration
-- 0034), held by worker_id until now() + lease_seconds, for the attempt sms_outbox.attempts + 1.
-- The message row itself is not written: a claim costs no row version and no WAL. The worker
-- renews its leases; another worker takes back a lease that lapsed
-- (sms_private.reclaim_expired_leases). One index probe per priority level (sms_outbox_due_idx),
-- so a backlog of rows scheduled for later never slows it; the rows being sent are among the
-- queued ones, so each claim steps over at most the window's worth of them.
--
-- Two kinds of rows are finished here instead of sent, and returned with their final status:
-- rows already past expires_at become `expired`, and marketing rows whose recipient opted out
-- after they were enqueued become `rejected` (error_code OPTED_OUT). The places the opted-out
-- rows took are claimed again, so the claim comes back short of max_rows only when the due rows
-- ran out. Returns the rows it changed, status `sending` for those claimed; `attempts` is the
-- attempt this claim is (the worker's result writes are fenced on it).
create or replace function sms_private.claim(worker_id text, max_rows integer, lease_seconds double precision)
returns table (id uuid, status text, recipient text, sender text, body text, encoding text, segments integer,
               priority integer, attempts integer, next_attempt_at timestamptz, expires_at timestamptz)
language plpgsql volatile
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_custom_plan
set jit = off
as $$
declare
  want integer := max_rows;
  taken integer;
  opted_out integer;
  finished uuid[] := '{}';
begin
  loop
    taken := 0;
    opted_out := 0;
    for id, status, recipient, sender, body, encoding, segments, priority, attempts, next_attempt_at, expires_at in
      -- The row's columns come from the locked row itself (the latest version, which a claim
      -- that waited on another transaction's update sees), not from this statement's snapshot.
      with picked as materialized (
        select c.*,
               case when c.expires_at <= now() then 'expired'
                    when c.category = 'marketing' and exists (select from public.sms_opt_out x where x.recipient = c.recipient) then 'rejected'
                    else 'sending' end as outcome
          from generate_series(10, -10, -1) as p(priority)
          cross join lateral (
            select o.id, o.expires_at, o.category, o.recipient, o.sender, o.body, o.body_length, o.redacted_at,
                   o.encoding, o.segments, o.priority, o.attempts, o.next_attempt_at
              from public.sms_outbox o
             where o.status = 'queued' and o.priority = p.priority and o.next_attempt_at <= now()
               and not exists (select from sms_private.outbox_lease l where l.outbox_id = o.id)
             order by o.next_attempt_at
             limit want
               for update skip locked
          ) c
         limit want
      ), leased as (
        -- Every row picked gets a lease, those to be finished here too (for this transaction;
        -- deleted below). A row whose lease another claim committed after this statement's
        -- snapshot passes the NOT EXISTS above (the snapshot does not see that lease) and its row
        -- lock (a claim writes no row version to recheck); the unique index sees that lease, and
        -- the row is left to its holder, neither sent nor finished, instead of failing the whole
        -- claim with a unique violation.
        insert into sms_private.outbox_lease (outbox_id, worker_id, attempt, lease_until)
        select picked.id, claim.worker_id, picked.attempts + 1, now() + make_interval(secs => lease_seconds)
          from picked
        on conflict (outbox_id) do nothing
        returning outbox_id as id, attempt
      ), done as (
        update public.sms_outbox o
           set status = picked.outcome,
               done_at = now(),
               error_code = case picked.outcome when 'rejected' then 'OPTED_OUT' else o.error_code end,
               error_message = case picked.outcome when 'expired' then sms_private.error_message('expired')
                                                   else sms_private.error_message('opted_out') end,
               updated_at = now()
          from picked join leased using (id)
         where o.id = picked.id and picked.outcome <> 'sending'
        returning o.id, sms_private.announce_status(o.id, o.status) as announced
      )
      -- A sign-in code is not in sms_outbox.body (body_length set, redacted_at not yet): the
      -- worker alone reads it from sms_outbox_secret (migration 0019). A row finished here has
      -- just had its secret released (trigger sms_outbox_secret_release), and is not sent.
      select p.id, p.outcome, p.recipient, p.sender,
             case when p.outcome = 'sending' and p.body_length is not null and p.redacted_at is null
                  then (select s.body from public.sms_outbox_secret s where s.outbox_id = p.id) else p.body end,
             p.encoding, p.segments, p.priority::integer,
             case when p.outcome = 'sending' then l.attempt else p.attempts end, p.next_attempt_at, p.expires_at
        from picked p
        join leased l using (id)
       where p.outcome = 'sending' or exists (select from done d where d.id = p.id)
       order by p.priority desc, p.next_attempt_at
    loop
      taken := taken + 1;
      if status <> 'sending' then
        finished := finished || id;
      end if;
      if status = 'rejected' then
        opted_out := opted_out + 1;
      end if;
      return next;
    end loop;
    exit when opted_out = 0 or taken < want;
    want := opted_out;
  end loop;
  delete from sms_private.outbox_lease l where l.outbox_id = any (finished);
end
$$;

comment on function sms_private.claim(text, integer, double precision) is
  'sms-outbox internal: the worker''s claim: up to max_rows due queued rows become sending (held by worker_id for lease_seconds), expired or rejected (opted out); returns them';

revoke all on function sms_private.claim(text, integer, double precision) from public, sms_sender, sms_reader, sms_worker;
grant execute on function sms_private.claim(text, integer, double precision) to sms_worker;
