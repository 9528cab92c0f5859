-- sms_pumping_pin(range, pin, note): the owner's word on a number range, above the pumping
-- defence's decisions. range: the digits of a country code (1-3 digits, e.g. '7') or of a prefix
-- range (prefix_length digits of the international number, e.g. '79991234'; "+", spaces and
-- dashes are stripped); anything else is a 22023 error, as it would match no number. pin: 'open' (never refused by the defence: a range of known people, a
-- test range), 'closed' (always refused: a range you never serve), or NULL (the pin is lifted
-- and the range is judged again, with no decision in force). Each call is a row of
-- sms_pumping_decision (pin_open, pin_closed, unpin; reason owner; the note in evidence).
-- Returns that row's id. For the owner of the schema alone, like the settings.
create or replace function public.sms_pumping_pin(range text, pin text, note text default null)
returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_range text := pg_catalog.translate(sms_pumping_pin.range, '+ -', '');
  v_at timestamptz := sms_private.pumping_now();
  v_id bigint;
  v_length integer;
begin
  if v_range is null or v_range !~ '^[1-9][0-9]{0,14}$' then
    raise exception 'range must be the digits of a country code or a number prefix, e.g. ''7'' or ''79991234''; got %',
        coalesce(pg_catalog.quote_literal(sms_pumping_pin.range), 'NULL')
      using errcode = '22023', column = 'range';
  end if;
  -- A range the defence looks up: a country code as it reads them, or a prefix of prefix_length.
  select s.prefix_length into v_length from public.sms_pumping_settings s;
  if pg_catalog.length(v_range) <= 3 and sms_private.pumping_country(v_range || '000000') <> v_range then
    raise exception '% is not a country calling code (it starts with %)', v_range, sms_private.pumping_country(v_range || '000000')
      using errcode = '22023', column = 'range';
  elsif pg_catalog.length(v_range) > 3 and pg_catalog.length(v_range) <> coalesce(v_length, 8) then
    raise exception 'a prefix range has sms_pumping_settings.prefix_length (%) digits; % has %', coalesce(v_length, 8), v_range, pg_catalog.length(v_range)
      using errcode = '22023', column = 'range';
  end if;
  if sms_pumping_pin.pin is not null and sms_pumping_pin.pin not in ('open', 'closed') then
    raise exception 'pin must be ''open'', ''closed'' or NULL (lift the pin); got %', pg_catalog.quote_literal(sms_pumping_pin.pin)
      using errcode = '22023', column = 'pin';
  end if;
  insert into sms_private.pumping_range as r (range, pin, updated_at)
  values (v_range, sms_pumping_pin.pin, v_at)
  on conflict (range) do update
     set pin = excluded.pin, updated_at = excluded.updated_at,
         -- Lifted: judged afresh, with no block or throttle left over.
         blocked_until = case when excluded.pin is null then null else r.blocked_until end,
         throttled_until = case when excluded.pin is null then null else r.throttled_until end,
         judged_since = case when excluded.pin is null then null else r.judged_since end;
  insert into public.sms_pumping_decision (decided_at, range, level, action, reason, until, evidence)
  values (v_at, v_range, case when pg_catalog.length(v_range) <= 3 then 'country' else 'prefix' end,
          case sms_pumping_pin.pin when 'open' then 'pin_open' when 'closed' then 'pin_closed' else 'unpin' end,
          'owner', null,
          pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('note', note, 'by', session_user)))
  returning id into v_id;
  return v_id;
end
$$;

comment on function public.sms_pumping_pin(text, text, text) is
  'sms-outbox: pins a number range (country code or prefix) open or closed above the pumping defence, or lifts the pin (NULL); returns the decision row''s id';

-- For the owner of the schema alone.
revoke all on function public.sms_pumping_pin(text, text, text) from public, sms_sender, sms_reader, sms_worker;
