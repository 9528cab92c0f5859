-- sms_opt_out_stats: recipients opted out now, and counters for dashboards (monotonic, from
-- sms_opt_out_log): stop and start keywords received, and the opt-outs and opt-ins, by keyword
-- and by call, that changed something, since install.
create or replace view public.sms_opt_out_stats as
select (select count(*) from public.sms_opt_out) as opted_out,
       count(*) filter (where l.action = 'opt_out' and l.source = 'keyword')               as stop_keywords,
       count(*) filter (where l.action = 'opt_in' and l.source = 'keyword')                as start_keywords,
       count(*) filter (where l.action = 'opt_out' and l.source = 'keyword' and l.changed) as keyword_opt_outs,
       count(*) filter (where l.action = 'opt_in' and l.source = 'keyword' and l.changed)  as keyword_opt_ins,
       count(*) filter (where l.action = 'opt_out' and l.source = 'operator' and l.changed) as operator_opt_outs,
       count(*) filter (where l.action = 'opt_in' and l.source = 'operator' and l.changed)  as operator_opt_ins
  from public.sms_opt_out_log l;

-- With the caller's rights (sms_private.view_as_invoker says why).
select sms_private.view_as_invoker('public.sms_opt_out_stats');

comment on view public.sms_opt_out_stats is
  'sms-outbox: recipients opted out now; stop and start keywords received, and the opt-outs and opt-ins (by keyword and by call) that changed something, since install';

revoke all on table public.sms_opt_out_stats from public, sms_sender, sms_reader, sms_worker;
grant select on table public.sms_opt_out_stats to sms_reader;
