-- sms_inbound_matches: for the incoming SMS just stored (ids in order), the reply rules each one
-- matches, in the order the worker calls their handlers: SMS by SMS, rules by id. A rule sees
-- only SMS of its own owner's conversations (sms_inbox.owner), so no rule is ever handed
-- another owner's SMS; SMS that are nobody's match nothing. Suspended rules are listed too:
-- sms_inbound_run records their SMS in sms_handler_error instead of calling them. Rule matching
-- reads only the rules the SMS can match (two index probes: the owner's rules without keywords,
-- and the rules whose keywords hold the first word's key, computed once per SMS), so it costs the
-- same with 1 rule or 100 (`sms-outbox bench --inbound`). The rules table is small, so the planner
-- would rather read all of it for every SMS (a sequential scan, cheaper by its estimate than an
-- index probe): with 100 rules that made matching cost twice what it did with one, growing with
-- every rule. enable_seqscan = off keeps the probes; where there is no index (unnest) nothing
-- changes. The keyword index does without a pending list (0032: fastupdate off), which every
-- probe would otherwise read through. For the worker.
create or replace function public.sms_inbound_matches(inbox_ids uuid[])
returns table (inbox_id uuid, rule_id bigint)
language sql stable security definer
set search_path = pg_catalog, pg_temp
set enable_seqscan = off
as $$
  -- The first word's key, as keywords are compared (sms_private.keyword_form, then look-alike
  -- letters folded), once per SMS: materialized (as a join condition it would be computed once
  -- per rule), and written out (a function of its own, with its SET, cost five times as much).
  -- The message answered is read only for rules that ask about it.
  with s as materialized (
    select u.n, i.id, i.owner, i.body, i.in_reply_to, ltrim(i.recipient, '+') as ours,
           nullif(sms_private.keyword_skeleton(sms_private.keyword_form(substring(left(i.body, 200) from '^\s*(\S+)'))), '') as kw
      from unnest(inbox_ids) with ordinality u(id, n)
      join public.sms_inbox i on i.id = u.id
     where i.owner is not null
  )
  select s.id, r.id
    from s
    cross join lateral (
      select x.* from public.sms_inbound_rule x where x.keyword_keys @> array[s.kw] and x.owner = s.owner
      union all
      select x.* from public.sms_inbound_rule x where x.keyword_keys is null and x.owner = s.owner
    ) r
   where (r.recipient is null or r.recipient = s.ours)
     and (r.pattern is null or s.body ~ r.pattern)
     and (r.reply_to_category is null and r.reply_to_metadata is null
          or exists (select from public.sms_outbox o
                      where o.id = s.in_reply_to
                        and (r.reply_to_category is null or o.category = r.reply_to_category)
                        and (r.reply_to_metadata is null or o.metadata @> r.reply_to_metadata)))
   order by s.n, r.id
$$;

comment on function public.sms_inbound_matches(uuid[]) is
  'sms-outbox: for the worker: the reply rules each incoming SMS matches (its owner''s rules alone), in calling order';

revoke all on function public.sms_inbound_matches(uuid[]) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_inbound_matches(uuid[]) to sms_worker;
