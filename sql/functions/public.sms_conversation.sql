-- sms_conversation: both directions with one phone number, oldest first: the caller's messages to
-- it (direction 'out', at = created_at, with their status) and the incoming SMS from it that are
-- the caller's (direction 'in', at = received_at: sms_inbox.owner, the owner of the message each
-- answers or of the reply rules that claim the number it came to). Same ownership rules as
-- sms_status: another owner's rows are not there, and the reader role and the owner of the
-- schema see every row, incoming SMS that are nobody's included. in_reply_to is what the row
-- answers: an incoming SMS's sms_inbox.in_reply_to (a message of ours), a message's
-- reply_to_inbox (an incoming SMS, for replies sent from a reply handler). Bodies are as stored:
-- '' once redacted, and a sign-in code is never in sms_outbox.body: redacted and sign_in_code say
-- which of the two a blank body is (a sign-in code's message is one the Send SMS Hook enqueued,
-- metadata.via = 'supabase_auth_hook'). Read through the indexes of a
-- number's messages and incoming SMS (sms_outbox (recipient, id), sms_inbox (sender, id)).
create or replace function public.sms_conversation(phone text) returns setof public.sms_conversation_row
language plpgsql stable security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text := sms_private.caller_owner();
  v_all boolean := sms_private.caller_sees_all();
  v_phone text;
begin
  if sms_conversation.phone is null then
    raise exception 'phone must not be null'
      using errcode = '22004', column = 'phone';
  end if;
  v_phone := translate(sms_conversation.phone, E' \t\u00A0\u202F-.()', '');
  if left(v_phone, 1) = '+' then
    v_phone := substr(v_phone, 2);
  end if;
  if v_phone !~ '^[0-9]{1,20}$' then
    raise exception 'phone % is not a phone number; expected digits, e.g. +79991234567 (a leading "+", spaces, dashes, dots and parentheses are ignored)',
        quote_literal(left(sms_conversation.phone, 40))
      using errcode = '22023', column = 'phone';
  end if;
  return query
    select c.direction, c.id, c.at, c.sender, c.recipient, c.body, c.status, c.in_reply_to, c.keyword_action,
           c.redacted, c.sign_in_code
      from (
        select 'out'::text as direction, o.id, o.created_at as at, o.sender, o.recipient, o.body, o.status,
               o.reply_to_inbox as in_reply_to, null::text as keyword_action,
               o.redacted_at is not null as redacted,
               coalesce(o.metadata ->> 'via' = 'supabase_auth_hook', false) as sign_in_code
          from public.sms_outbox o
         where o.recipient = v_phone
           and (v_all or o.owner = v_owner)
        union all
        select 'in', i.id, i.received_at, i.sender, i.recipient, i.body, null, i.in_reply_to, i.keyword_action,
               i.redacted_at is not null, false
          from public.sms_inbox i
         where i.sender = v_phone
           and (v_all or i.owner = v_owner)
      ) c
     order by c.at, c.direction, c.id;   -- at one time an incoming SMS before the reply it got
end
$$;

comment on function public.sms_conversation(text) is
  'sms-outbox: both directions with one phone number, oldest first: the caller''s messages to it and the incoming SMS from it that are the caller''s (every row for the reader role)';

revoke all on function public.sms_conversation(text) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_conversation(text) to sms_sender, sms_reader;
