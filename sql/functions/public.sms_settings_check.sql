-- sms_settings_check: sms_settings is checked when it is set, so a bad value fails the UPDATE
-- instead of every later send. The default sender by the same rules as sms_send's sender (a
-- numeric one normalised); the keyword lists stored as they are compared (sms_private.keyword_form),
-- each once, STOP and СТОП always among the stop keywords, no keyword in both lists (compared
-- with look-alike letters folded, sms_private.keyword_skeleton); default_validity at most 100
-- years, so no expiry sms_send computes from it reaches the year 10000.
create or replace function public.sms_settings_check() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  bad text;
begin
  new.default_sender := sms_private.check_sender(new.default_sender, 'default_sender');
  -- Every expiry sms_send computes from it (now, or send_at, plus it) stays before the year 10000.
  if new.default_validity > interval '100 years'
     and (tg_op = 'INSERT' or new.default_validity is distinct from old.default_validity) then
    raise exception 'default_validity % is too long; at most 100 years', new.default_validity
      using errcode = '22023', column = 'default_validity';
  end if;
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
  -- Compared as incoming text is (look-alike letters folded): 'CTOП' and 'СТОП' are one keyword.
  select k into bad from unnest(new.stop_keywords) k
   where sms_private.keyword_skeleton(k) = any (select sms_private.keyword_skeleton(s) from unnest(new.start_keywords) s)
   limit 1;
  if bad is not null then
    raise exception 'keyword % is in both stop_keywords and start_keywords', quote_literal(bad)
      using errcode = '22023', column = 'start_keywords';
  end if;
  new.updated_at := now();
  return new;
end
$$;

comment on function public.sms_settings_check() is
  'sms-outbox internal: checks and normalises sms_settings when it is written (trigger sms_settings_check)';

drop trigger if exists sms_settings_check on public.sms_settings;
create trigger sms_settings_check
  before insert or update on public.sms_settings
  for each row execute function public.sms_settings_check();

-- A trigger function: nobody calls it.
revoke all on function public.sms_settings_check() from public, sms_sender, sms_reader, sms_worker;
