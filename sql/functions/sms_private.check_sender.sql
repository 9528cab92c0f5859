-- sms_private.check_sender: validates a sender and returns it normalised (a numeric sender loses
-- its "+"). NULL stays NULL (the caller decides what a missing sender means). `arg` names the
-- argument in messages: 'sender' from sms_send, 'default_sender' from the settings trigger.
--   numeric:       optional "+", then 1..15 digits, the first one 1-9 (sent with TON 1 / NPI 1:
--                  an international number, country code first)
--   alphanumeric:  1..11 characters of the GSM 03.38 basic table, at least one of them a letter, no
--                  line breaks, no leading or trailing space (sent with TON 5 / NPI 0)
-- A sender over 64 characters is refused by its length before it is scanned or echoed.
create or replace function sms_private.check_sender(sender text, arg text default 'sender')
returns text
language plpgsql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
  bad text;
begin
  if sender is null then
    return null;
  end if;
  if sender = '' then
    raise exception '% must not be empty; pass NULL for none', arg
      using errcode = '22023', column = arg;
  end if;
  if char_length(sender) > 64 then
    raise exception '% has % characters; at most 11 (alphanumeric) or 15 digits are allowed', arg, char_length(sender)
      using errcode = '22001', column = arg;
  end if;
  if sender ~ '^\+?[0-9]+$' then
    sender := ltrim(sender, '+');
    if char_length(sender) > 15 then
      raise exception 'numeric % "%" has % digits; at most 15 are allowed', arg, sender, char_length(sender)
        using errcode = '22001', column = arg;
    end if;
    if left(sender, 1) = '0' then
      raise exception 'numeric % "%" starts with 0; a numeric sender is an international number and starts with its country code', arg, sender
        using errcode = '22023', column = arg,
              hint = 'pass the number in international form, digits only, e.g. ''79991234567''; for a name use letters, e.g. ''MyShop''';
    end if;
    return sender;
  end if;
  if sender ~ '[^ -?@-Z_a-z]' then
    bad := substring(sender from '[^ -?@-Z_a-z]');
    raise exception '% % contains % (U+%), which an alphanumeric sender cannot carry: it may use Latin letters, digits, spaces and ! " # $ %% & '' ( ) * + , - . / : ; < = > ? @ _ (the printable ASCII of the GSM 7-bit basic alphabet)',
        arg, quote_literal(sender), quote_literal(bad), lpad(upper(to_hex(ascii(bad))), 4, '0')
      using errcode = '22021', column = arg,
            hint = 'use Latin letters, digits, space and common punctuation, e.g. ''MyShop'' or ''Shop-24''; for a phone number pass digits only';
  end if;
  -- Networks treat an all-digit sender as a number; an alphanumeric one needs a letter. What
  -- has none is most likely a formatted phone number.
  if sender !~ '[A-Za-z]' then
    raise exception '% % has no letter: an alphanumeric sender needs one, a numeric sender is digits only', arg, quote_literal(sender)
      using errcode = '22023', column = arg,
            hint = 'to send from a phone number, pass its digits only, e.g. ''79991234567''';
  end if;
  if char_length(sender) > 11 then
    raise exception 'alphanumeric % % has % characters; at most 11 are allowed', arg, quote_literal(sender), char_length(sender)
      using errcode = '22001', column = arg;
  end if;
  if sender <> btrim(sender, ' ') then
    raise exception '% % must not start or end with a space', arg, quote_literal(sender)
      using errcode = '22023', column = arg;
  end if;
  return sender;
end
$$;

comment on function sms_private.check_sender(text, text) is
  'sms-outbox internal: validates and normalises a sender name or number; NULL stays NULL';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.check_sender(text, text) from public, sms_sender, sms_reader, sms_worker;
