-- sms_private.smart_text: the text smart encoding sends for `body`, and how many characters it
-- replaced (0: the body itself, because it has no look-alike or would need UCS-2 anyway).
-- Typographic look-alikes that GSM 03.38 lacks are replaced by the GSM-7 characters they stand
-- for when that makes the whole body GSM-7 (`Hello “world” – it’s fine…` is one GSM-7 segment,
-- not UCS-2). A body that needs UCS-2 anyway (Cyrillic, emoji) keeps every character; letters
-- are never transliterated. The table is the one in src/smpp/smart-encoding.ts and
-- scripts/gen-segment-vectors.py (test/vectors/segments.json):
--   to ' ':   tab, U+00A0, U+2000-U+200A, U+202F, U+205F, U+3000
--   to LF:    U+2028, U+2029
--   to '''':  U+2018 U+2019 U+201A U+201B U+2032 U+2035 U+2039 U+203A U+02BC U+00B4 U+0060
--   to '"':   U+201C U+201D U+201E U+201F U+2033 U+2036 U+00AB U+00BB
--   to '-':   U+2010-U+2015 U+2043 U+2212 U+FE58 U+FE63 U+FF0D
--   to '.', '..', '...': U+2024, U+2025, U+2026;  to '/': U+2044, U+2215
--   to '^', '~': U+02C6, U+02DC;  removed: U+00AD U+200B U+200C U+200D U+2060 U+FEFF
-- As a class (sms_send's fast path repeats it, sending such a body to the general path):
--   [\t\u0060\u00A0\u00AB\u00AD\u00B4\u00BB\u02BC\u02C6\u02DC\u2000-\u200D\u2010-\u2015\u2018-\u201F\u2024-\u2026\u2028\u2029\u202F\u2032\u2033\u2035\u2036\u2039\u203A\u2043\u2044\u205F\u2060\u2212\u2215\u3000\uFE58\uFE63\uFEFF\uFF0D]
create or replace function sms_private.smart_text(body text, out sent text, out replaced integer)
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

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.smart_text(text) from public, sms_sender, sms_reader, sms_worker;
