-- sms_private.keyword_skeleton: a keyword_form with the Cyrillic and Greek capitals that look like
-- Latin ones replaced by those (after Unicode's confusables), so two texts with one skeleton look
-- the same: 'SТОР' with Cyrillic Т, О, Р is STOP, 'CTOП' with Latin C, T, O is СТОП. Compared,
-- never stored: the keyword lists keep their keywords as typed, in keyword_form.
--   Cyrillic А В Е К М Н О Р С Т У Х Ѕ І Ј Ԛ Ԝ Ү Һ Ӏ  ->  A B E K M H O P C T Y X S I J Q W Y H I
--   Greek    Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ              ->  A B E Z H I K M N O P T Y X
-- Digits stay digits: ST0P is not STOP.
create or replace function sms_private.keyword_skeleton(form text) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.translate($1,
           U&'\0410\0412\0415\041A\041C\041D\041E\0420\0421\0422\0423\0425\0405\0406\0408\051A\051C\04AE\04BA\04C0\0391\0392\0395\0396\0397\0399\039A\039C\039D\039F\03A1\03A4\03A5\03A7',
           'ABEKMHOPCTYXSIJQWYHIABEZHIKMNOPTYX')
$$;

comment on function sms_private.keyword_skeleton(text) is
  'sms-outbox internal: a keyword_form with Cyrillic and Greek look-alike capitals folded to Latin, for comparing stop and start keywords';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.keyword_skeleton(text) from public, sms_sender, sms_reader, sms_worker;
