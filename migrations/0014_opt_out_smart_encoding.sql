-- sms-outbox 0014: opt-out (STOP) for marketing messages, and smart encoding.
--
-- 1. Opt-out. sms_send gains `category` ('transactional', the default, or 'marketing'). A
--    recipient in sms_opt_out receives no marketing message: sms_send stores one to an opted-out
--    recipient as `rejected` with error_code OPTED_OUT (not an error: a campaign enqueued in one
--    transaction is not aborted by one recipient), and the worker's claim does the same for a
--    message whose recipient opted out after it was enqueued (src/db/outbox.ts). Transactional
--    messages (one-time codes, receipts) go whatever sms_opt_out says.
--    An incoming SMS whose text is a stop keyword (sms_settings.stop_keywords: STOP and СТОП,
--    and what the operator adds) opts its sender out; a start keyword (START, СТАРТ) opts back
--    in. Case, white space, punctuation, symbols and emoji are ignored ("Stop!", " стоп. ").
--    It happens in a trigger on sms_inbox, so every writer (the worker, the reassembly of
--    incomplete sets, the replay of parked rows) gets it; sms_inbox.keyword_action says what it
--    did. sms_opt_out(recipient) / sms_opt_in(recipient) do the same for operators and apps;
--    sms_opt_out_log keeps every change, and sms_opt_out_stats counts them.
--
-- 2. Smart encoding (sms_settings.smart_encoding, on by default). Typographic look-alikes that
--    GSM 03.38 lacks are replaced by the GSM-7 characters they stand for when that makes the
--    whole body GSM-7 (`Hello “world” – it’s fine…` is one GSM-7 segment, not UCS-2). A body
--    that needs UCS-2 anyway (Cyrillic, emoji) keeps every character; letters are never
--    transliterated. sms_send stores the text that is sent, and in replaced_chars how many
--    characters it replaced; sms_segments counts the same way. The table is the one in
--    src/smpp/smart-encoding.ts and scripts/gen-segment-vectors.py (test/vectors/segments.json).


-- 1. Settings --------------------------------------------------------------------------------

alter table public.sms_settings
  add column smart_encoding boolean not null default true,
  add column stop_keywords  text[] not null default array['STOP', U&'\0421\0422\041E\041F'],
  add column start_keywords text[] not null default array['START', U&'\0421\0422\0410\0420\0422'];

comment on column public.sms_settings.smart_encoding is
  'replace typographic look-alikes (curly quotes, dashes, ellipsis, special spaces, ...) by GSM-7 characters when that makes a body GSM-7';
comment on column public.sms_settings.stop_keywords is
  'an incoming SMS whose text is one of these (ignoring case, spaces, punctuation) opts its sender out of marketing messages; always includes STOP and СТОП';
comment on column public.sms_settings.start_keywords is
  'an incoming SMS whose text is one of these opts its sender back in';


-- 2. Columns -------------------------------------------------------------------------------------
--
-- Constant defaults: no table rewrite, and sms_send's fast path does not name them.

alter table public.sms_outbox
  add column category       text not null default 'transactional',
  add column replaced_chars integer not null default 0;

comment on column public.sms_outbox.category is
  'transactional (sent to every recipient) or marketing (never to a recipient in sms_opt_out)';
comment on column public.sms_outbox.replaced_chars is
  'characters smart encoding replaced by GSM-7 equivalents (or removed, when invisible) in the body stored and sent; 0: the body is as the app passed it';

alter table public.sms_inbox
  add column keyword_action text;

comment on column public.sms_inbox.keyword_action is
  'what the text did as a keyword: opt_out (a stop keyword: the sender is in sms_opt_out), opt_in (a start keyword), ignored (a keyword from a sender that is not an international number); NULL for any other text';


-- 3. Smart encoding ------------------------------------------------------------------------------
--
-- The look-alikes and their replacements (src/smpp/smart-encoding.ts lists them by name):
--   to ' ':   tab, U+00A0, U+2000-U+200A, U+202F, U+205F, U+3000
--   to LF:    U+2028, U+2029
--   to '''':  U+2018 U+2019 U+201A U+201B U+2032 U+2035 U+2039 U+203A U+02BC U+00B4 U+0060
--   to '"':   U+201C U+201D U+201E U+201F U+2033 U+2036 U+00AB U+00BB
--   to '-':   U+2010-U+2015 U+2043 U+2212 U+FE58 U+FE63 U+FF0D
--   to '.', '..', '...': U+2024, U+2025, U+2026;  to '/': U+2044, U+2215
--   to '^', '~': U+02C6, U+02DC;  removed: U+00AD U+200B U+200C U+200D U+2060 U+FEFF
-- As a class (sms_send's fast path repeats it, sending such a body to the general path):
--   [\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]

-- smart_text: the text smart encoding sends for `body`, and how many characters it replaced (0:
-- the body itself, because it has no look-alike or would need UCS-2 anyway).
create function sms_private.smart_text(body text, out sent text, out replaced integer)
language plpgsql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
  t text;
begin
  sent := body;
  replaced := 0;
  if body !~ '[\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]' then
    return;
  end if;
  -- One character for one (the first 53), then the invisible ones, which have no counterpart
  -- and so are deleted; the leaders of two and three dots after.
  t := translate(body,
                 U&'\0009\0060\00A0\00AB\00B4\00BB\02BC\02C6\02DC\2000\2001\2002\2003\2004\2005\2006\2007\2008\2009\200A\2010\2011\2012\2013\2014\2015\2018\2019\201A\201B\201C\201D\201E\201F\2024\2028\2029\202F\2032\2033\2035\2036\2039\203A\2043\2044\205F\2212\2215\3000\FE58\FE63\FF0D\00AD\200B\200C\200D\2060\FEFF',
                 U&'\0020\0027\0020\0022\0027\0022\0027\005E\007E\0020\0020\0020\0020\0020\0020\0020\0020\0020\0020\0020\002D\002D\002D\002D\002D\002D\0027\0027\0027\0027\0022\0022\0022\0022\002E\000A\000A\0020\0027\0022\0027\0022\0027\0027\002D\002F\0020\002D\002F\0020\002D\002D\002D');
  t := replace(replace(t, U&'\2025', '..'), U&'\2026', '...');
  if t ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]' then
    return;                                              -- UCS-2 anyway: keep every character
  end if;
  sent := t;
  replaced := char_length(body) - char_length(regexp_replace(body, '[\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]', '', 'g'));
end
$$;

comment on function sms_private.smart_text(text) is
  'sms-outbox internal: the text smart encoding sends (look-alikes replaced when that makes it GSM-7) and how many characters it replaced';


-- sms_segments: what a text costs, counted as sms_send would store it (with the look-alikes
-- replaced while sms_settings.smart_encoding is on). Stable now: it reads the setting.
create or replace function public.sms_segments(body text, out encoding text, out units integer, out segments integer)
language plpgsql stable strict security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  b text := sms_segments.body;
begin
  if char_length(b) <= 39015    -- a longer text is refused by the counter before any scan
     and b ~ '[\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]'
     and coalesce((select s.smart_encoding from public.sms_settings s), true) then
    b := (sms_private.smart_text(b)).sent;
  end if;
  select c.encoding, c.units, c.segments into sms_segments.encoding, sms_segments.units, sms_segments.segments
    from sms_private.count_segments(b) c;
end
$$;

comment on function public.sms_segments(text) is
  'sms-outbox: encoding (gsm7/ucs2), units (septets or UTF-16 code units) and segments a body needs as sms_send would send it (smart encoding per sms_settings)';


-- 4. Keywords ------------------------------------------------------------------------------------

-- keyword_form: a text as keywords are compared: without white space, invisible characters,
-- punctuation, symbols and emoji, in upper case. upper() follows the database's locale (under
-- the C locale it changes ASCII only), so Latin-1, Greek and Cyrillic letters are also mapped
-- explicitly: 'стоп' is 'СТОП' on every server.
create function sms_private.keyword_form(t text) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.translate(
           pg_catalog.upper(pg_catalog.regexp_replace($1,
             '[\s\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E\u00A0-\u00BF\u00D7\u00F7\u034F\u061C\u1680\u180E\u2000-\u206F\u20A0-\u20CF\u2100-\u214F\u2190-\u2BFF\u3000-\u303F\uFE00-\uFE0F\uFE10-\uFE6F\uFEFF\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65\U0001F000-\U0001FAFF\U000E0000-\U000E007F]',
             '', 'g')),
           U&'\00E0\00E1\00E2\00E3\00E4\00E5\00E6\00E7\00E8\00E9\00EA\00EB\00EC\00ED\00EE\00EF\00F0\00F1\00F2\00F3\00F4\00F5\00F6\00F8\00F9\00FA\00FB\00FC\00FD\00FE\03AC\03AD\03AE\03AF\03B1\03B2\03B3\03B4\03B5\03B6\03B7\03B8\03B9\03BA\03BB\03BC\03BD\03BE\03BF\03C0\03C1\03C2\03C3\03C4\03C5\03C6\03C7\03C8\03C9\03CA\03CB\03CC\03CD\03CE\0430\0431\0432\0433\0434\0435\0436\0437\0438\0439\043A\043B\043C\043D\043E\043F\0440\0441\0442\0443\0444\0445\0446\0447\0448\0449\044A\044B\044C\044D\044E\044F\0450\0451\0452\0453\0454\0455\0456\0457\0458\0459\045A\045B\045C\045D\045E\045F',
           U&'\00C0\00C1\00C2\00C3\00C4\00C5\00C6\00C7\00C8\00C9\00CA\00CB\00CC\00CD\00CE\00CF\00D0\00D1\00D2\00D3\00D4\00D5\00D6\00D8\00D9\00DA\00DB\00DC\00DD\00DE\0386\0388\0389\038A\0391\0392\0393\0394\0395\0396\0397\0398\0399\039A\039B\039C\039D\039E\039F\03A0\03A1\03A3\03A3\03A4\03A5\03A6\03A7\03A8\03A9\03AA\03AB\038C\038E\038F\0410\0411\0412\0413\0414\0415\0416\0417\0418\0419\041A\041B\041C\041D\041E\041F\0420\0421\0422\0423\0424\0425\0426\0427\0428\0429\042A\042B\042C\042D\042E\042F\0400\0401\0402\0403\0404\0405\0406\0407\0408\0409\040A\040B\040C\040D\040E\040F')
$$;

comment on function sms_private.keyword_form(text) is
  'sms-outbox internal: a text as stop/start keywords are compared (no spaces, punctuation, symbols or emoji; upper case)';

-- The keyword lists are stored as they are compared, checked when they are set.
create or replace function public.sms_settings_check() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  bad text;
begin
  new.default_sender := sms_private.check_sender(new.default_sender, 'default_sender');
  -- Each keyword in its compared form, once, in the order given.
  select coalesce(array_agg(k order by pos), '{}') into new.stop_keywords
    from (select sms_private.keyword_form(w) as k, min(i) as pos
            from unnest(new.stop_keywords) with ordinality u(w, i) where w is not null group by 1) x;
  select coalesce(array_agg(k order by pos), '{}') into new.start_keywords
    from (select sms_private.keyword_form(w) as k, min(i) as pos
            from unnest(new.start_keywords) with ordinality u(w, i) where w is not null group by 1) x;
  if '' = any (new.stop_keywords) or '' = any (new.start_keywords) then
    raise exception 'a keyword must have a letter or digit: spaces, punctuation, symbols and emoji are ignored when keywords are compared'
      using errcode = '22023', column = case when '' = any (new.stop_keywords) then 'stop_keywords' else 'start_keywords' end;
  end if;
  if not (new.stop_keywords @> array['STOP', U&'\0421\0422\041E\041F']) then
    raise exception 'stop_keywords must include STOP and %', U&'\0421\0422\041E\041F'
      using errcode = '22023', column = 'stop_keywords',
            hint = format('add your own to them, e.g. update sms_settings set stop_keywords = stop_keywords || array[%L]', 'UNSUBSCRIBE');
  end if;
  select k into bad from unnest(new.stop_keywords) k where k = any (new.start_keywords) limit 1;
  if bad is not null then
    raise exception 'keyword % is in both stop_keywords and start_keywords', quote_literal(bad)
      using errcode = '22023', column = 'start_keywords';
  end if;
  new.updated_at := now();
  return new;
end
$$;

-- Stored in the compared form from now on (the defaults already are).
update public.sms_settings set stop_keywords = stop_keywords;


-- 5. The opt-out list ----------------------------------------------------------------------------

create table public.sms_opt_out (
  recipient    text primary key,
  opted_out_at timestamptz not null default now(),
  source       text not null check (source in ('keyword', 'operator')),
  keyword      text,
  inbox_id     uuid,
  actor        text
);

comment on table public.sms_opt_out is
  'sms-outbox: recipients who receive no marketing message (one row each), since when and why; change with sms_opt_out() / sms_opt_in() or by SMS (stop and start keywords)';
comment on column public.sms_opt_out.recipient is 'international number, digits only, as sms_outbox.recipient';
comment on column public.sms_opt_out.source is 'keyword: an incoming SMS (inbox_id, keyword); operator: a call of sms_opt_out() (actor)';
comment on column public.sms_opt_out.keyword is 'the stop keyword, as compared (upper case, no punctuation)';
comment on column public.sms_opt_out.inbox_id is 'the sms_inbox row of the stop keyword (the row may since be purged)';
comment on column public.sms_opt_out.actor is 'who called sms_opt_out(): the caller''s role, as sms_outbox.owner names it';

-- Every change, and every keyword or call that found nothing to change, for audits and the
-- counters of sms_opt_out_stats. Never purged: a row per STOP or START.
create table public.sms_opt_out_log (
  id        bigint generated always as identity primary key,
  at        timestamptz not null default now(),
  recipient text not null,
  action    text not null check (action in ('opt_out', 'opt_in')),
  source    text not null check (source in ('keyword', 'operator')),
  keyword   text,
  inbox_id  uuid,
  actor     text,
  changed   boolean not null
);

comment on table public.sms_opt_out_log is
  'sms-outbox: every opt-out and opt-in, by keyword or by call; changed is false when the recipient already was in that state';

create index sms_opt_out_log_recipient_idx on public.sms_opt_out_log (recipient, at);

alter table public.sms_opt_out     enable row level security;
alter table public.sms_opt_out_log enable row level security;
create policy sms_reader_select on public.sms_opt_out     for select to sms_reader using (true);
create policy sms_reader_select on public.sms_opt_out_log for select to sms_reader using (true);
-- The worker's claim reads it (src/db/outbox.ts).
create policy sms_worker_select on public.sms_opt_out     for select to sms_worker using (true);

-- change_opt_out: opts a recipient out (opt_out true) or back in, and logs it; true when the
-- recipient's state changed.
create function sms_private.change_opt_out(opt_out boolean, recipient text, source text, keyword text, inbox_id uuid, actor text)
returns boolean
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  changed boolean;
begin
  if change_opt_out.opt_out then
    insert into public.sms_opt_out as x (recipient, source, keyword, inbox_id, actor)
    values (change_opt_out.recipient, change_opt_out.source, change_opt_out.keyword, change_opt_out.inbox_id, change_opt_out.actor)
    on conflict on constraint sms_opt_out_pkey do nothing;
  else
    delete from public.sms_opt_out x where x.recipient = change_opt_out.recipient;
  end if;
  changed := found;
  insert into public.sms_opt_out_log (recipient, action, source, keyword, inbox_id, actor, changed)
  values (change_opt_out.recipient, case when change_opt_out.opt_out then 'opt_out' else 'opt_in' end,
          change_opt_out.source, change_opt_out.keyword, change_opt_out.inbox_id, change_opt_out.actor, changed);
  return changed;
end
$$;

-- The keyword trigger. Inbound is not the hot path (a few hundred rows a second at most), and
-- only a short text is normalised. SECURITY DEFINER: the worker role writes sms_inbox, not the
-- opt-out list. A value of keyword_action written by the inserter is not kept.
create function sms_private.inbox_keyword() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  kw text;
  cfg record;
  action text;
  phone text;
begin
  new.keyword_action := null;
  if char_length(new.body) > 200 then
    return new;
  end if;
  kw := sms_private.keyword_form(new.body);
  if kw = '' then
    return new;
  end if;
  select s.stop_keywords, s.start_keywords into cfg from public.sms_settings s;
  if kw = any (cfg.stop_keywords) then
    action := 'opt_out';
  elsif kw = any (cfg.start_keywords) then
    action := 'opt_in';
  else
    return new;
  end if;
  -- The sender as sms_outbox.recipient stores numbers: international digits. Anything else (an
  -- alphanumeric sender, a national number) names no recipient: the keyword is ignored, visibly.
  phone := ltrim(translate(new.sender, E' \u00A0-.()', ''), '+');
  if phone !~ '^[1-9][0-9]{6,14}$' or left(phone, 2) = '89' then
    new.keyword_action := 'ignored';
    return new;
  end if;
  perform sms_private.change_opt_out(action = 'opt_out', phone, 'keyword', kw, new.id, null);
  new.keyword_action := action;
  return new;
end
$$;

comment on function sms_private.inbox_keyword() is
  'sms-outbox internal: an incoming SMS that is a stop or start keyword opts its sender out or in (trigger on sms_inbox)';

create trigger sms_inbox_keyword
  before insert on public.sms_inbox
  for each row execute function sms_private.inbox_keyword();

-- For operators and apps: an app's unsubscribe link calls sms_opt_out (the sender role may);
-- sms_opt_in overrides what the recipient asked by SMS, so it is the owner's alone unless granted
-- (grant execute on function sms_opt_in(text) to my_app;). Both return true when they changed
-- the recipient's state, false when it already was so; a bad number is the 22xxx error of
-- sms_send's recipient.
create function public.sms_opt_out(recipient text) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return sms_private.change_opt_out(true, sms_private.check_recipient(sms_opt_out.recipient), 'operator', null, null,
                                    sms_private.caller_owner());
end
$$;

comment on function public.sms_opt_out(text) is
  'sms-outbox: no more marketing messages to this recipient; true when it was not opted out before';

create function public.sms_opt_in(recipient text) returns boolean
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return sms_private.change_opt_out(false, sms_private.check_recipient(sms_opt_in.recipient), 'operator', null, null,
                                    sms_private.caller_owner());
end
$$;

comment on function public.sms_opt_in(text) is
  'sms-outbox: marketing messages to this recipient again; true when it was opted out';

-- Counters for dashboards (monotonic, from the log) and the size of the list.
create view public.sms_opt_out_stats as
select (select count(*) from public.sms_opt_out) as opted_out,
       count(*) filter (where l.action = 'opt_out' and l.source = 'keyword')               as stop_keywords,
       count(*) filter (where l.action = 'opt_in' and l.source = 'keyword')                as start_keywords,
       count(*) filter (where l.action = 'opt_out' and l.source = 'keyword' and l.changed) as keyword_opt_outs,
       count(*) filter (where l.action = 'opt_in' and l.source = 'keyword' and l.changed)  as keyword_opt_ins,
       count(*) filter (where l.action = 'opt_out' and l.source = 'operator' and l.changed) as operator_opt_outs,
       count(*) filter (where l.action = 'opt_in' and l.source = 'operator' and l.changed)  as operator_opt_ins
  from public.sms_opt_out_log l;

comment on view public.sms_opt_out_stats is
  'sms-outbox: recipients opted out now; stop and start keywords received, and the opt-outs and opt-ins (by keyword and by call) that changed something, since install';

do $$
begin
  if pg_catalog.current_setting('server_version_num')::integer >= 150000 then
    alter view public.sms_opt_out_stats set (security_invoker = true);
  end if;
end
$$;


-- 6. sms_send with category and smart encoding ----------------------------------------------------
--
-- The general path (sms_private.send) gains `category` as a trailing argument with a default, so
-- calls with the nine earlier arguments (sms_send_to_self, the Auth hook) stay as they are. A new
-- argument makes a new function, so the old ones are dropped first.

drop function sms_private.send(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb);

create function sms_private.send(
  owner           text,
  recipient       text,
  body            text,
  sender          text,
  send_at         timestamptz,
  expires_at      timestamptz,
  priority        integer,
  idempotency_key text,
  metadata        jsonb,
  category        text default 'transactional'
) returns uuid
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_recipient text;
  v_body text;                    -- what is stored and sent: the body, or its smart-encoded form
  v_replaced integer := 0;
  v_smart record;
  v_sender text;                  -- NULL: sms_settings.default_sender
  v_encoding text;
  v_segments integer;
  v_count record;
  v_length integer;
  v_category text;
  v_opted_out boolean := false;
  v_send_at timestamptz;
  v_due timestamptz;
  v_expires_at timestamptz;       -- NULL: v_due + sms_settings.default_validity
  v_priority integer;
  v_metadata jsonb;
  v_id uuid;
  v_armed boolean;
  cfg record;
  v_prior record;
begin
  -- Sizes first: nothing below scans a text longer than any message can be.
  if send.idempotency_key is not null then
    if send.idempotency_key = '' then
      raise exception 'idempotency_key must not be empty; pass NULL for none'
        using errcode = '22023', column = 'idempotency_key';
    elsif char_length(send.idempotency_key) > 255 then
      raise exception 'idempotency_key has % characters; at most 255 are allowed', char_length(send.idempotency_key)
        using errcode = '22001', column = 'idempotency_key';
    end if;
  end if;
  v_length := char_length(send.body);
  if v_length > 39015 then
    select s.max_segments into cfg from public.sms_settings s;
    raise exception 'body has % characters; the limit of % segments holds at most %', v_length,
        coalesce(cfg.max_segments, 255), greatest(160, 153 * coalesce(cfg.max_segments, 255))
      using errcode = '22001', column = 'body',
            hint = 'one segment holds 160 GSM-7 or 70 UCS-2 characters, each further part 153 or 67';
  end if;

  v_category := coalesce(send.category, 'transactional');
  if v_category not in ('transactional', 'marketing') then
    raise exception 'category must be ''transactional'' or ''marketing'', got %', quote_literal(left(v_category, 40))
      using errcode = '22023', column = 'category',
            hint = 'marketing messages are never sent to a recipient in sms_opt_out; transactional ones (codes, receipts) always are';
  end if;

  if send.recipient ~ '^\+?(?!89)[1-9][0-9]{6,14}$' then
    v_recipient := ltrim(send.recipient, '+');
  else
    v_recipient := sms_private.check_recipient(send.recipient);
  end if;

  -- The body's rules are checked on the text the app passed; what is counted and stored is the
  -- text that is sent (smart encoding, when on, replaces look-alikes if that makes it GSM-7).
  v_body := send.body;
  if v_length <= 70
     and send.body !~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF\U00010000-\U0010FFFF]'
     and send.body ~ '[^\s\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]' then
    v_segments := 1;
  else
    v_count := sms_private.check_body(send.body);
    v_encoding := v_count.encoding;
    v_segments := v_count.segments;
  end if;
  if send.body ~ '[\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]'
     and coalesce((select s.smart_encoding from public.sms_settings s), true) then
    v_smart := sms_private.smart_text(send.body);
    if v_smart.replaced > 0 then
      v_body := v_smart.sent;
      v_replaced := v_smart.replaced;
      v_count := sms_private.count_segments(v_body);      -- the dots of an ellipsis may add a part
      v_encoding := v_count.encoding;
      v_segments := v_count.segments;
    end if;
  end if;
  if v_encoding is null then                              -- at most 70 characters: one part either way
    if v_body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]' then
      v_encoding := 'ucs2';
    else
      v_encoding := 'gsm7';
    end if;
  end if;

  if send.sender is not null then
    v_sender := sms_private.check_sender(send.sender);
  end if;

  -- send_at: NULL or a past time means now; the row is due at the later of the two. Times from
  -- the year 10000 on are refused: ISO 8601 and most clients stop at 9999, and adding the
  -- validity to the last time PostgreSQL can store overflows (22008 naming no argument).
  if send.send_at is null then
    v_send_at := now();
    v_due := v_send_at;
  elsif not isfinite(send.send_at) then
    raise exception 'send_at must be a finite time, got %', send.send_at
      using errcode = '22023', column = 'send_at';
  elsif send.send_at >= timestamptz '10000-01-01 00:00:00+00' then
    raise exception 'send_at % is too far in the future; expected a time before the year 10000', send.send_at
      using errcode = '22008', column = 'send_at';
  else
    v_send_at := send.send_at;
    v_due := greatest(v_send_at, now());
  end if;

  -- expires_at: NULL means the configured validity after the message is due (so a send_at in
  -- the past does not make a message born expired); the INSERT fills it in.
  if send.expires_at is not null then
    if not isfinite(send.expires_at) then
      raise exception 'expires_at must be a finite time, got %', send.expires_at
        using errcode = '22023', column = 'expires_at';
    elsif send.expires_at >= timestamptz '10000-01-01 00:00:00+00' then
      raise exception 'expires_at % is too far in the future; expected a time before the year 10000', send.expires_at
        using errcode = '22008', column = 'expires_at';
    elsif send.expires_at <= now() then
      raise exception 'expires_at % is in the past; expected a time after now (%)', send.expires_at, now()
        using errcode = '22023', column = 'expires_at';
    elsif send.expires_at <= v_due then
      raise exception 'expires_at % is not after send_at %; a message must be able to live after it is due', send.expires_at, v_due
        using errcode = '22023', column = 'expires_at';
    end if;
    v_expires_at := send.expires_at;
  end if;

  v_priority := coalesce(send.priority, 0);
  if v_priority < -10 or v_priority > 10 then
    raise exception 'priority must be between -10 and 10 (higher is sent first), got %', v_priority
      using errcode = '22003', column = 'priority';
  end if;

  if send.metadata is not null and jsonb_typeof(send.metadata) <> 'null' then   -- JSON null: none
    if jsonb_typeof(send.metadata) <> 'object' then
      raise exception 'metadata must be a JSON object, got a JSON %', jsonb_typeof(send.metadata)
        using errcode = '22023', column = 'metadata',
              hint = 'wrap the value in an object, e.g. {"order_id": 42}';
    elsif octet_length(send.metadata::text) > 8192 then
      raise exception 'metadata is % bytes as JSON text; at most 8192 are allowed', octet_length(send.metadata::text)
        using errcode = '22001', column = 'metadata',
              hint = 'store large data in your own table and put its key in metadata';
    end if;
    v_metadata := send.metadata;
  end if;

  -- A marketing message to a recipient who opted out is stored as rejected, never sent (the
  -- claim checks again, for an opt-out that arrives after this).
  if v_category = 'marketing' then
    v_opted_out := exists (select from public.sms_opt_out x where x.recipient = v_recipient);
  end if;

  if send.idempotency_key is null then
    insert into public.sms_outbox
      (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at, metadata,
       category, replaced_chars, status, done_at, error_code, error_message)
    select send.owner, v_recipient, coalesce(v_sender, s.default_sender), v_body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata,
           v_category, v_replaced,
           case when v_opted_out then 'rejected' else 'queued' end,
           case when v_opted_out then now() end,
           case when v_opted_out then 'OPTED_OUT' end,
           case when v_opted_out then 'not sent: the recipient opted out of marketing messages (sms_opt_out)' end
      from public.sms_settings s
     where v_segments <= s.max_segments
       and coalesce(v_sender, s.default_sender) is not null
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
  else
    -- ON CONFLICT waits for a concurrent transaction holding the same owner and key: if it
    -- commits, the row is found below; if it rolls back, this insert goes through. Another
    -- owner's key is another index entry: no conflict, no wait.
    insert into public.sms_outbox
      (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at, metadata,
       idempotency_key, category, replaced_chars, status, done_at, error_code, error_message)
    select send.owner, v_recipient, coalesce(v_sender, s.default_sender), v_body, v_encoding, v_segments,
           v_priority, v_send_at, coalesce(v_expires_at, v_due + s.default_validity), v_due, v_metadata,
           send.idempotency_key, v_category, v_replaced,
           case when v_opted_out then 'rejected' else 'queued' end,
           case when v_opted_out then now() end,
           case when v_opted_out then 'OPTED_OUT' end,
           case when v_opted_out then 'not sent: the recipient opted out of marketing messages (sms_opt_out)' end
      from public.sms_settings s
     where v_segments <= s.max_segments
       and coalesce(v_sender, s.default_sender) is not null
    on conflict (owner, idempotency_key) where idempotency_key is not null do nothing
    returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
  end if;

  if v_id is null then
    -- Nothing inserted: the idempotency key is taken, or a setting refused the message. The key
    -- comes first: a repeat returns the message it repeats even if the settings changed since.
    if send.idempotency_key is not null then
      select o.id, o.recipient, o.body, o.redacted_at, o.body_hash into v_prior
        from public.sms_outbox o
       where o.owner = send.owner
         and o.idempotency_key = send.idempotency_key;
      if found then
        -- The same body as passed or as sent (smart encoding may have been switched since), or,
        -- once the body is redacted, the same hash.
        if v_prior.recipient = v_recipient
           and (case when v_prior.redacted_at is null then v_prior.body in (v_body, send.body)
                     else v_prior.body_hash in (sms_private.body_hash(v_body), sms_private.body_hash(send.body)) end) then
          return v_prior.id;                                 -- a repeat: nothing inserted, no wake-up
        end if;
        -- Neither the first message's id nor what differs: under a shared owner (service_role)
        -- the caller may not be the part of the app that sent it.
        raise exception 'idempotency_key % was already used for a different message', quote_literal(send.idempotency_key)
          using errcode = '23505', column = 'idempotency_key',
                hint = 'a repeat must have the same recipient and body; use a new key for a new message';
      end if;
    end if;
    select s.default_sender, s.max_segments into cfg from public.sms_settings s;
    if not found then
      raise exception 'sms-outbox is not set up: sms_settings has no row'
        using errcode = '55000', hint = 'insert into sms_settings default values;';
    end if;
    if v_segments > cfg.max_segments then
      perform sms_private.check_body(v_body, cfg.max_segments);   -- raises 22001 with the details
    end if;
    if v_sender is null and cfg.default_sender is null then
      raise exception 'sender is null and no default sender is configured'
        using errcode = '22004', column = 'sender',
              hint = 'pass sender, or set a default: update sms_settings set default_sender = ''MyBrand''; (or SMS_DEFAULT_SENDER for sms-outbox migrate)';
    end if;
    if send.idempotency_key is not null then
      -- ON CONFLICT saw the key, but the row was gone by the SELECT (purged): start over.
      return sms_private.send(send.owner, send.recipient, send.body, send.sender, send.send_at,
                              send.expires_at, send.priority, send.idempotency_key, send.metadata, send.category);
    end if;
    raise exception 'sms_send inserted nothing and found no reason (this is a bug in sms-outbox)'
      using errcode = 'XX000';
  end if;

  if v_opted_out then
    -- Final at once: announced like every final status; nothing to wake a worker for.
    perform pg_notify('sms_status', json_build_object('id', v_id, 'status', 'rejected')::text);
    return v_id;
  end if;
  -- Wake an idle worker. NOTIFY is transactional: delivered at commit, discarded on rollback,
  -- and identical notifications in one transaction are folded into one. While the worker is
  -- draining it disarms the switch and enqueues skip the NOTIFY (which serialises commits).
  -- The switch is read in the INSERT's snapshot, so a worker that arms it after that and
  -- re-checks the queue before this transaction commits does not see this row: the worker
  -- re-checks once more a second after arming, and the sms_drain cron job each minute.
  if v_armed then
    perform pg_notify('sms_outbox_wakeup', '');
  end if;
  return v_id;
end
$$;

comment on function sms_private.send(text, text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) is
  'sms-outbox internal: sms_send''s general path for a given owner (also sms_send_to_self''s)';


drop function public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb);

-- The fast path is 0011's with two more conditions: the category is one of the two, and the body
-- has no look-alike for smart encoding (such a body, the rarer kind, takes the general path; the
-- look-alikes join the class of characters the path already excludes, so that costs no extra
-- scan). A transactional message is 0011's INSERT as it was; a marketing one looks its
-- recipient up in sms_opt_out in the same INSERT (an index probe) and is stored rejected when it
-- is there.
create function public.sms_send(
  recipient       text,
  body            text,
  sender          text        default null,
  send_at         timestamptz default null,
  expires_at      timestamptz default null,
  priority        integer     default 0,
  idempotency_key text        default null,
  metadata        jsonb       default null,
  category        text        default 'transactional'
) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_id uuid;
  v_armed boolean;
  v_status text;
begin
  if sms_send.sender is null and sms_send.send_at is null and sms_send.expires_at is null
     and coalesce(sms_send.priority, 0) = 0 and sms_send.metadata is null and sms_send.idempotency_key is null
     and (sms_send.category is null or sms_send.category in ('transactional', 'marketing'))
     and sms_send.recipient ~ '^\+?(?!89)[1-9][0-9]{6,14}$'
     and char_length(sms_send.body) <= 70
     and sms_send.body !~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF\U00010000-\U0010FFFF\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]'
     and sms_send.body ~ '[^\s\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB]' then
    -- The owner: caller_owner()'s first case inline (a session that did not SET ROLE, the usual
    -- app), since a call of a function with SET costs a few microseconds more than the INSERT.
    if sms_send.category = 'marketing' then
      insert into public.sms_outbox
        (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at,
         category, status, done_at, error_code, error_message)
      select case when current_setting('role') = 'none' then quote_ident(session_user::text) else sms_private.caller_owner() end,
             ltrim(sms_send.recipient, '+'), s.default_sender, sms_send.body,
             case when sms_send.body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]'
                  then 'ucs2' else 'gsm7' end,
             1, 0, now(), now() + s.default_validity, now(),
             'marketing',
             case when x.recipient is null then 'queued' else 'rejected' end,
             case when x.recipient is not null then now() end,
             case when x.recipient is not null then 'OPTED_OUT' end,
             case when x.recipient is not null then 'not sent: the recipient opted out of marketing messages (sms_opt_out)' end
        from public.sms_settings s
        left join public.sms_opt_out x on x.recipient = ltrim(sms_send.recipient, '+')
       where s.default_sender is not null
      returning id, status, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_status, v_armed;
      if v_status = 'rejected' then
        perform pg_notify('sms_status', json_build_object('id', v_id, 'status', 'rejected')::text);
        return v_id;
      end if;
    else
      insert into public.sms_outbox
        (owner, recipient, sender, body, encoding, segments, priority, send_at, expires_at, next_attempt_at)
      select case when current_setting('role') = 'none' then quote_ident(session_user::text) else sms_private.caller_owner() end,
             ltrim(sms_send.recipient, '+'), s.default_sender, sms_send.body,
             case when sms_send.body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]'
                  then 'ucs2' else 'gsm7' end,
             1, 0, now(), now() + s.default_validity, now()
        from public.sms_settings s
       where s.default_sender is not null
      returning id, (select w.armed_until > now() from public.sms_wakeup w) into v_id, v_armed;
    end if;
    if v_id is not null then
      if v_armed then
        perform pg_notify('sms_outbox_wakeup', '');      -- see the end of sms_private.send
      end if;
      return v_id;
    end if;
    -- No default sender: the general path says so.
  end if;
  return sms_private.send(sms_private.caller_owner(), sms_send.recipient, sms_send.body, sms_send.sender,
                          sms_send.send_at, sms_send.expires_at, sms_send.priority,
                          sms_send.idempotency_key, sms_send.metadata, sms_send.category);
end
$$;

comment on function public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) is
  'sms-outbox: enqueue one SMS inside the caller''s transaction, owned by the caller; returns its id. category marketing: never sent to a recipient in sms_opt_out (stored as rejected, OPTED_OUT). Rejects bad input with a class-22/23 SQLSTATE naming the argument (also in the error''s COLUMN field).';


-- 7. Grants ------------------------------------------------------------------------------------------
--
-- To our roles first: sms_strip_inherited_grants() then gives Supabase's service_role what the
-- sender role has (sms_grant_supabase_roles), and takes everything else away.

grant execute on function public.sms_send(text, text, text, timestamptz, timestamptz, integer, text, jsonb, text) to sms_sender;
grant execute on function public.sms_opt_out(text) to sms_sender;
grant select on public.sms_opt_out, public.sms_opt_out_log, public.sms_opt_out_stats to sms_reader;
grant select on public.sms_opt_out to sms_worker;

select public.sms_strip_inherited_grants();
