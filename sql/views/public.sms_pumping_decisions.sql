-- sms_pumping_decisions: every decision of the sign-in hook's pumping defence (order by id or
-- decided_at): blocks, throttles and releases it took on a number range, and owners' pins
-- (sms_pumping_pin). in_force: the latest decision for its range, and a pin, or a
-- block or throttle whose until is still ahead (a block is followed by a probation as long as
-- sms_pumping_settings.cooldown, in evidence.probation_until).
create or replace view public.sms_pumping_decisions as
select d.id, d.decided_at, d.range, d.level, d.action, d.reason, d.until, d.evidence,
       (not exists (select from public.sms_pumping_decision n where n.range = d.range and n.id > d.id)
        and (d.action in ('pin_open', 'pin_closed') or (d.action in ('block', 'throttle') and d.until > now()))) as in_force
  from public.sms_pumping_decision d;

-- With the caller's rights (sms_private.view_as_invoker says why).
select sms_private.view_as_invoker('public.sms_pumping_decisions');

comment on view public.sms_pumping_decisions is
  'sms-outbox: every decision of the sign-in hook''s pumping defence (block, throttle, release) and every owner''s pin (pin_open, pin_closed, unpin), with the figures it was taken on; in_force: still applies';

-- The reader role, and the worker (its metrics).
revoke all on table public.sms_pumping_decisions from public, sms_sender, sms_reader, sms_worker;
grant select on table public.sms_pumping_decisions to sms_reader, sms_worker;
