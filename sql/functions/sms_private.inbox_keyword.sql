-- sms_private.inbox_keyword: an incoming SMS whose text is a stop keyword
-- (sms_settings.stop_keywords: STOP and СТОП, and what the operator adds) opts its sender out; a
-- start keyword (START, СТАРТ) opts back in. A trigger on sms_inbox, so every writer (the worker,
-- the reassembly of incomplete sets, the replay of parked rows) gets it; sms_inbox.keyword_action
-- says what it did. Inbound is not the hot path (a few hundred rows a second at most), and only a
-- short text is normalised. SECURITY DEFINER: the worker role writes sms_inbox, not the opt-out
-- list. A value of keyword_action written by the inserter is not kept. Text and keywords are
-- compared by skeleton (keyword_form, then look-alike letters folded: sms_private.keyword_skeleton),
-- the stored keywords formed again, as a list set before NFKC was part of keyword_form holds
-- them unfolded; the keyword recorded is the list's entry matched ('STOP' for 'SТОР').
create or replace function sms_private.inbox_keyword() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  kw text;
  cfg record;
  action text;
  matched text;
  phone text;
begin
  new.keyword_action := null;
  if char_length(new.body) > 200 then
    return new;
  end if;
  kw := sms_private.keyword_skeleton(sms_private.keyword_form(new.body));
  if kw = '' then
    return new;
  end if;
  select s.stop_keywords, s.start_keywords into cfg from public.sms_settings s;
  select k into matched from unnest(cfg.stop_keywords) k
   where sms_private.keyword_skeleton(sms_private.keyword_form(k)) = kw limit 1;
  if matched is not null then
    action := 'opt_out';
  else
    select k into matched from unnest(cfg.start_keywords) k
     where sms_private.keyword_skeleton(sms_private.keyword_form(k)) = kw limit 1;
    if matched is null then
      return new;
    end if;
    action := 'opt_in';
  end if;
  -- The sender as sms_outbox.recipient stores numbers: international digits. Anything else (an
  -- alphanumeric sender, a national number) names no recipient: the keyword is ignored, visibly.
  phone := ltrim(translate(new.sender, E' \u00A0-.()', ''), '+');
  if phone !~ '^[1-9][0-9]{6,14}$' or left(phone, 2) = '89' then
    new.keyword_action := 'ignored';
    return new;
  end if;
  -- actor: the login that stored it (the worker's, through sms_inbound_store), so a keyword
  -- relayed by any other login holding the worker role shows in sms_opt_out_log.
  perform sms_private.change_opt_out(action = 'opt_out', phone, 'keyword', matched, new.id, session_user::text);
  new.keyword_action := action;
  return new;
end
$$;

comment on function sms_private.inbox_keyword() is
  'sms-outbox internal: an incoming SMS that is a stop or start keyword opts its sender out or in (trigger on sms_inbox)';

drop trigger if exists sms_inbox_keyword on public.sms_inbox;
create trigger sms_inbox_keyword
  before insert on public.sms_inbox
  for each row execute function sms_private.inbox_keyword();

-- A trigger function: nobody calls it.
revoke all on function sms_private.inbox_keyword() from public, sms_sender, sms_reader, sms_worker;
