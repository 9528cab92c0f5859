-- sms_private.check_recipient: a phone number in international form, returned as digits only
-- ("+7 (999) 123-45-67" -> '79991234567'). Accepted decoration: one leading "+", spaces
-- (including no-break), dashes, dots and parentheses. Then 7..15 digits (E.164 allows 15),
-- the first one 1-9: a number starting with 0 is national or a trunk prefix and cannot be
-- routed internationally. Nor can 89: that country code is unassigned (ITU spare), and
-- "8 9xx ..." is how Russian mobile numbers are written nationally, the mistake this catches.
-- The well-formed case costs one translate() and one regex; the diagnosis of a bad number
-- runs only when it fails. A recipient over 64 characters is refused by its length.
create or replace function sms_private.check_recipient(recipient text)
returns text
language plpgsql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
  d text;
  bad text;
begin
  if recipient is null then
    raise exception 'recipient must not be null'
      using errcode = '22004', column = 'recipient';
  end if;
  if char_length(recipient) > 64 then
    raise exception 'recipient has % characters; expected a phone number in international format, e.g. +79991234567 (at most 15 digits)',
        char_length(recipient)
      using errcode = '22001', column = 'recipient';
  end if;
  d := translate(recipient, E' \t\u00A0\u202F-.()', '');
  if left(d, 1) = '+' then
    d := substr(d, 2);
  end if;
  if d ~ '^[1-9][0-9]{6,14}$' and left(d, 2) <> '89' then
    return d;
  end if;

  if d = '' then
    raise exception 'recipient must not be empty; expected a phone number in international format, e.g. +79991234567'
      using errcode = '22023', column = 'recipient';
  end if;
  if d !~ '^[0-9]+$' then
    bad := substring(d from '[^0-9]');
    raise exception 'recipient % contains %, which is not a digit; expected a phone number in international format, e.g. +79991234567',
        quote_literal(recipient),
        case when bad = '+' then '"+" after the start'
             when bad ~ '^[[:alpha:]]$' then 'the letter ' || quote_literal(bad)
             else quote_literal(bad) end
      using errcode = '22023', column = 'recipient',
            hint = 'only a leading "+", digits, spaces, dashes, dots and parentheses are accepted';
  end if;
  if left(d, 2) = '00' then
    raise exception 'recipient % starts with the international prefix 00; expected a phone number in international format, e.g. +79991234567',
        quote_literal(recipient)
      using errcode = '22023', column = 'recipient',
            hint = format('write "+" instead of "00": %s', quote_literal('+' || substr(d, 3)));
  end if;
  if left(d, 1) = '0' then
    raise exception 'recipient % starts with 0, so it is not an international number; expected the country code first, e.g. +79991234567',
        quote_literal(recipient)
      using errcode = '22023', column = 'recipient',
            hint = 'replace the national prefix with the country code, e.g. 020 7946 0958 (UK) becomes +44 20 7946 0958';
  end if;
  if left(d, 2) = '89' then
    raise exception 'recipient % starts with 89, which is not a country code; expected a phone number in international format, e.g. +79991234567',
        quote_literal(recipient)
      using errcode = '22023', column = 'recipient',
            hint = format('a Russian number written with the national prefix 8 becomes +7: %s', quote_literal('+7' || substr(d, 2)));
  end if;
  if char_length(d) < 7 then
    raise exception 'recipient % is too short: % digits, at least 7 expected (country code and subscriber number)',
        quote_literal(recipient), char_length(d)
      using errcode = '22023', column = 'recipient';
  end if;
  raise exception 'recipient % is too long: % digits, at most 15 allowed (E.164)',
      quote_literal(recipient), char_length(d)
    using errcode = '22001', column = 'recipient';
end
$$;

comment on function sms_private.check_recipient(text) is
  'sms-outbox internal: validates a phone number and returns its international digits';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.check_recipient(text) from public, sms_sender, sms_reader, sms_worker;
