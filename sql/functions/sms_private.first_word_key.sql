-- sms_private.first_word_key: the first word of a text as reply rules compare keywords: as stop
-- keywords are (sms_private.keyword_form: no punctuation, symbols or emoji, upper case, NFKC)
-- with look-alike letters folded (sms_private.keyword_skeleton). 'Да, подтверждаю' -> the key
-- of ДА; NULL for a text without a word.
create or replace function sms_private.first_word_key(t text) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select nullif(sms_private.keyword_skeleton(sms_private.keyword_form(substring(left($1, 200) from '^\s*(\S+)'))), '')
$$;

comment on function sms_private.first_word_key(text) is
  'sms-outbox internal: the first word of a text, as reply rules compare their keywords';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.first_word_key(text) from public, sms_sender, sms_reader, sms_worker;
