-- sms_inbound_matches: for the incoming SMS just stored (ids in order), the reply rules each one
-- matches, in the order the worker calls their handlers: SMS by SMS, rules by id. A rule sees
-- only SMS of its own owner's conversations (sms_inbox.owner), so no rule is ever handed
-- another owner's SMS; SMS that are nobody's match nothing. Suspended rules are listed too:
-- sms_inbound_run records their SMS in sms_handler_error instead of calling them. Rule matching
-- reads the rules of the SMS's owner alone (an index), and compares each with the first word's
-- key computed once per SMS. For the worker.
create or replace function public.sms_inbound_matches(inbox_ids uuid[])
returns table (inbox_id uuid, rule_id bigint)
language sql stable security definer
set search_path = pg_catalog, pg_temp
as $$
  select i.id, r.id
    from unnest(inbox_ids) with ordinality u(id, n)
    join public.sms_inbox i on i.id = u.id
    cross join lateral (select sms_private.first_word_key(i.body) as kw, ltrim(i.recipient, '+') as ours) x
    left join public.sms_outbox o on o.id = i.in_reply_to
    join public.sms_inbound_rule r
      on r.owner = i.owner
     and (r.recipient is null or r.recipient = x.ours)
     and (r.keyword_keys is null or x.kw = any (r.keyword_keys))
     and (r.pattern is null or i.body ~ r.pattern)
     and (r.reply_to_category is null or o.category = r.reply_to_category)
     and (r.reply_to_metadata is null or o.metadata @> r.reply_to_metadata)
   where i.owner is not null
   order by u.n, r.id
$$;

comment on function public.sms_inbound_matches(uuid[]) is
  'sms-outbox: for the worker: the reply rules each incoming SMS matches (its owner''s rules alone), in calling order';

revoke all on function public.sms_inbound_matches(uuid[]) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_inbound_matches(uuid[]) to sms_worker;
