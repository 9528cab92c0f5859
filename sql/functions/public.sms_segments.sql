-- sms_segments: what a text costs, counted as sms_send would store it (with the look-alikes
-- replaced while sms_settings.smart_encoding is on), so an app can preview it. It counts any text
-- of at most 39015 characters (NULL gives NULLs; a longer text is 22001, since no SMS can hold
-- it); whether sms_send would accept it (non-blank, no control characters, within
-- sms_settings.max_segments) is sms_send's business. Stable: it reads the setting.
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

revoke all on function public.sms_segments(text) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_segments(text) to sms_sender;
