-- sms_private.count_segments: what a text costs as an SMS. Pure counting, any text of at most
-- 39015 characters (the most an SMS can hold: 255 parts, the top of sms_settings.max_segments, of
-- 153; a longer text is refused before anything scans it). sms_send's rules about what may be
-- sent are in check_body; this is what sms_segments() exposes.
--   encoding  'gsm7' when every character is in the basic or extension table, else 'ucs2'
--   units     septets (gsm7: extension characters count 2) or UTF-16 code units (ucs2:
--             characters above U+FFFF count 2)
--   segments  1 when units fit one message (160 / 70), else parts of 153 / 67 filled greedily,
--             never splitting an escape pair or a surrogate pair (an empty text is 1)
--
-- The GSM 03.38 alphabet as regular-expression bracket contents (written with \u escapes so no
-- look-alike character can slip in: Ω U+03A9 is not the Ohm sign U+2126):
--   basic table (1 septet):   LF CR, space through ?, @ A-Z, _, a-z, and
--                             ¡ £ ¤ ¥ § ¿ Ä Å Æ Ç É Ñ Ö Ø Ü ß à ä å æ è é ì ñ ò ö ø ù ü Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ
--   extension table (2):      form feed ^ { } \ [ ~ ] | €
-- The same sets are in test/vectors/segments.json ("every basic char", the extension cases);
-- test/sql/segments.test.ts checks every BMP code point against them.
--
-- Speed matters: this runs inside the app's transaction. The common paths are two or three
-- regular-expression scans (C code); the exact greedy walk runs only for multi-part texts that
-- contain weight-2 characters, and then loops once per such character, not per character.
create or replace function sms_private.count_segments(body text, out encoding text, out units integer, out segments integer)
language plpgsql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
  n integer;
  heavy integer;          -- characters of weight 2
  single_max integer;
  part_max integer;
  runs text[];
  run_len integer;
  fill integer;
  i integer;
begin
  n := char_length(body);
  if n > 39015 then
    raise exception 'body has % characters; no SMS holds more than 39015 (255 parts of 153 GSM-7 characters)', n
      using errcode = '22001', column = 'body';
  end if;
  if body ~ '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]' then
    encoding := 'ucs2';
    single_max := 70;
    part_max := 67;
    -- Characters outside the BMP take a surrogate pair: two UTF-16 code units.
    if body ~ '[\U00010000-\U0010FFFF]' then
      heavy := n - char_length(regexp_replace(body, '[\U00010000-\U0010FFFF]', '', 'g'));
    else
      heavy := 0;
    end if;
  else
    encoding := 'gsm7';
    single_max := 160;
    part_max := 153;
    -- Extension-table characters are sent as ESC + character: two septets.
    if body ~ '[]\f^{}\\[~|\u20AC]' then
      heavy := n - char_length(regexp_replace(body, '[]\f^{}\\[~|\u20AC]', '', 'g'));
    else
      heavy := 0;
    end if;
  end if;

  units := n + heavy;
  if units <= single_max then
    segments := 1;
  elsif heavy = 0 then
    segments := (units + part_max - 1) / part_max;
  else
    -- Greedy fill, exactly as the worker's encoder splits: runs of weight-1 characters between
    -- the weight-2 ones; a weight-2 character that does not fit whole starts the next part.
    if encoding = 'gsm7' then
      runs := regexp_split_to_array(body, '[]\f^{}\\[~|\u20AC]');
    else
      runs := regexp_split_to_array(body, '[\U00010000-\U0010FFFF]');
    end if;
    segments := 1;
    fill := 0;
    for i in 1 .. array_length(runs, 1) loop
      run_len := char_length(runs[i]);
      if fill + run_len <= part_max then
        fill := fill + run_len;
      else
        run_len := fill + run_len - part_max;            -- what spills past the current part
        segments := segments + (run_len + part_max - 1) / part_max;
        fill := run_len - ((run_len - 1) / part_max) * part_max;
      end if;
      if i < array_length(runs, 1) then                    -- a weight-2 character follows
        if fill + 2 > part_max then
          segments := segments + 1;
          fill := 2;
        else
          fill := fill + 2;
        end if;
      end if;
    end loop;
  end if;
end
$$;

comment on function sms_private.count_segments(text) is
  'sms-outbox internal: encoding (gsm7/ucs2), units and segments of a text of at most 39015 characters; the counter behind sms_segments and sms_send';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.count_segments(text) from public, sms_sender, sms_reader, sms_worker;
