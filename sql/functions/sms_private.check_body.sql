-- sms_private.check_body: the rules for what may be sent, then the count; with max_segments
-- given, a body needing more parts is rejected (22001) with the reason in the message. Every
-- rejection raises a class-22 SQLSTATE whose message names the argument; the error's COLUMN field
-- carries the argument name too (node-postgres: err.column, psycopg: e.diag.column_name), so an
-- app can map it to a form field without parsing text.
--
-- "Visible": not white space and not one of Unicode's default-ignorable code points, the
-- characters a renderer shows as nothing: soft hyphen U+00AD, U+034F, U+061C, the Hangul
-- fillers U+115F, U+1160, U+3164, U+FFA0, U+17B4-U+17B5, U+180B-U+180F, the zero-width and
-- direction marks U+200B-U+200F, U+202A-U+202E, U+2060-U+206F, variation selectors
-- U+FE00-U+FE0F and U+E0100-U+E01EF, U+FEFF, U+FFF0-U+FFF8, U+1BCA0-U+1BCA3,
-- U+1D173-U+1D17A, and the tag characters U+E0000-U+E0FFF; plus the interlinear annotation
-- marks U+FFF9-U+FFFB and the blank braille pattern U+2800. sms_send and sms_private.send repeat
-- the class in their fast paths.
create or replace function sms_private.check_body(body text, max_segments integer default null,
                                       out encoding text, out units integer, out segments integer)
language plpgsql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
declare
  cost record;
  bad text;
  pos integer;
  what text;
begin
  if body is null then
    raise exception 'body must not be null'
      using errcode = '22004', column = 'body';
  end if;
  if body = '' then
    raise exception 'body must not be empty'
      using errcode = '22023', column = 'body';
  end if;
  if char_length(body) > 39015 then
    perform sms_private.count_segments(body);            -- raises 22001 before any scan
  end if;

  -- Characters that never belong in an SMS: C0 controls other than tab, LF, FF and CR; DEL and
  -- the C1 controls (usually Windows-1252 text decoded as Latin-1); U+FFFD, the replacement
  -- character a decoder leaves where it met bytes it could not read; U+FFFE and U+FFFF, which
  -- are not characters. NUL cannot reach here: PostgreSQL rejects it in any text value (22021).
  if body ~ '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF]' then
    bad := substring(body from '[\u0001-\u0008\u000B\u000E-\u001F\u007F-\u009F\uFFFD-\uFFFF]');
    pos := strpos(body, bad);
    what := case
      when bad = U&'\FFFD' then 'the replacement character, left where text was mangled before it reached the database'
      when bad in (U&'\FFFE', U&'\FFFF') then 'not a character'
      else 'a control character' end;
    if bad = U&'\FFFD' or ascii(bad) between 128 and 159 then
      raise exception 'body contains U+% (%) at character %; only printable text, tab, line feed, form feed and carriage return can be sent',
          lpad(upper(to_hex(ascii(bad))), 4, '0'), what, pos
        using errcode = '22021', column = 'body',
              hint = 'check that the client sends UTF-8 and decodes its input with the right character set';
    end if;
    raise exception 'body contains U+% (%) at character %; only printable text, tab, line feed, form feed and carriage return can be sent',
        lpad(upper(to_hex(ascii(bad))), 4, '0'), what, pos
      using errcode = '22021', column = 'body';
  end if;

  if body !~ '[^\s\u00A0\u00AD\u034F\u061C\u115F\u1160\u1680\u17B4\u17B5\u180B-\u180F\u2000-\u200F\u2028-\u202F\u205F-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0000-\U000E0FFF]' then
    raise exception 'body must contain more than white space and invisible characters'
      using errcode = '22023', column = 'body',
            hint = 'format characters such as U+200B-U+200F, U+202A-U+202E, U+2060-U+206F, U+FEFF and the tag characters U+E0000-U+E0FFF display as nothing';
  end if;

  cost := sms_private.count_segments(body);
  encoding := cost.encoding;
  units := cost.units;
  segments := cost.segments;

  if segments > max_segments then
    if encoding = 'ucs2' then
      bad := substring(body from '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]');
      raise exception 'body needs % segments (UCS-2, % UTF-16 code units); the limit is %', segments, units, max_segments
        using errcode = '22001', column = 'body',
              hint = format('the body is sent as UCS-2 (67 characters per part instead of 153) because it contains %s (U+%s) at character %s, which GSM-7 cannot encode; shorten the body, or raise sms_settings.max_segments (the carrier allows at most 10)',
                            quote_literal(bad), lpad(upper(to_hex(ascii(bad))), 4, '0'), strpos(body, bad));
    else
      raise exception 'body needs % segments (GSM-7, % septets); the limit is %', segments, units, max_segments
        using errcode = '22001', column = 'body',
              hint = 'shorten the body, or raise sms_settings.max_segments (the carrier allows at most 10)';
    end if;
  end if;
end
$$;

comment on function sms_private.check_body(text, integer) is
  'sms-outbox internal: validates a body for sms_send and returns its encoding, units and segments; with max_segments, rejects longer bodies (22001)';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.check_body(text, integer) from public, sms_sender, sms_reader, sms_worker;
