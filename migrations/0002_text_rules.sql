-- sms-outbox 0002: the rules for ids, bodies and senders, shared by sms_send, sms_segments and
-- the settings trigger. Internal helpers: EXECUTE on them is revoked from PUBLIC in 0006, so
-- apps reach them only through the SECURITY DEFINER functions of 0005.
--
-- Every rejection raises a class-22 SQLSTATE whose message names the argument; the error's
-- COLUMN field carries the argument name too (node-postgres: err.column, psycopg:
-- e.diag.column_name), so an app can map it to a form field without parsing text.

-- Time-ordered UUIDs (RFC 9562 version 7): 48 bits of Unix milliseconds, then random bits.
-- New rows land at the right edge of the primary-key index instead of at random pages, which
-- keeps inserts cheap and the index compact. PostgreSQL 18 has uuidv7() built in; older
-- servers get the same layout from gen_random_uuid() (core since 13, no extension needed).
-- Plain SQL without SET so the planner can inline it into the column defaults; every name is
-- schema-qualified so no search_path can redirect it.
do $$
begin
  if pg_catalog.current_setting('server_version_num')::integer >= 180000 then
    execute $f$
      create function public.sms_uuidv7() returns uuid
      language sql volatile parallel safe
      as 'select pg_catalog.uuidv7()'
    $f$;
  else
    execute $f$
      create function public.sms_uuidv7() returns uuid
      language sql volatile parallel safe
      as $body$
        select pg_catalog.encode(
                 pg_catalog.set_bit(pg_catalog.set_bit(
                   pg_catalog.overlay(
                     pg_catalog.uuid_send(pg_catalog.gen_random_uuid()),
                     pg_catalog.substr(pg_catalog.int8send(pg_catalog.floor(
                       pg_catalog.date_part('epoch', pg_catalog.clock_timestamp())
                       operator(pg_catalog.*) 1000)::pg_catalog.int8), 3),
                     1, 6),
                   52, 1), 53, 1),
                 'hex')::pg_catalog.uuid
      $body$
    $f$;
  end if;
end
$$;

comment on function public.sms_uuidv7() is
  'sms-outbox: a version-7 (time-ordered) UUID; the default of sms_outbox.id and sms_inbox.id';


-- The GSM 03.38 alphabet as regular-expression bracket contents (written with \u escapes so no
-- look-alike character can slip in: Ω U+03A9 is not the Ohm sign U+2126).
--   basic table (1 septet):   LF CR, space through ?, @ A-Z, _, a-z, and
--                             ¡ £ ¤ ¥ § ¿ Ä Å Æ Ç É Ñ Ö Ø Ü ß à ä å æ è é ì ñ ò ö ø ù ü Δ Φ Γ Λ Ω Π Ψ Σ Θ Ξ
--   extension table (2):      form feed ^ { } \ [ ~ ] | €
-- The same sets are in test/vectors/segments.json ("every basic char", the extension cases);
-- test/sql/segments.test.ts checks every BMP code point against them.

-- sms_count_segments: what a text costs as an SMS. Pure counting, any text (sms_send's rules
-- about what may be sent are in sms_check_body); this is what sms_segments() exposes.
--   encoding  'gsm7' when every character is in the basic or extension table, else 'ucs2'
--   units     septets (gsm7: extension characters count 2) or UTF-16 code units (ucs2:
--             characters above U+FFFF count 2)
--   segments  1 when units fit one message (160 / 70), else parts of 153 / 67 filled greedily,
--             never splitting an escape pair or a surrogate pair (an empty text is 1)
--
-- Speed matters: this runs inside the app's transaction. The common paths are two or three
-- regular-expression scans (C code); the exact greedy walk runs only for multi-part texts that
-- contain weight-2 characters, and then loops once per such character, not per character.
create function public.sms_count_segments(body text, out encoding text, out units integer, out segments integer)
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

comment on function public.sms_count_segments(text) is
  'sms-outbox internal: encoding (gsm7/ucs2), units and segments of a text; the counter behind sms_segments and sms_send';


-- sms_check_body: the rules for what sms_send may send, then the count; with max_segments
-- given, a body needing more parts is rejected (22001) with the reason in the message.
create function public.sms_check_body(body text, max_segments integer default null,
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

  if body !~ '[^\s\u00A0\u1680\u2000-\u200B\u2028\u2029\u202F\u205F\u3000\uFEFF]' then
    raise exception 'body must contain more than white space'
      using errcode = '22023', column = 'body';
  end if;

  cost := public.sms_count_segments(body);
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

comment on function public.sms_check_body(text, integer) is
  'sms-outbox internal: validates a body for sms_send and returns its encoding, units and segments; with max_segments, rejects longer bodies (22001)';


-- sms_check_sender: validates a sender and returns it normalised (a numeric sender loses its
-- "+"). NULL stays NULL (the caller decides what a missing sender means). `arg` names the
-- argument in messages: 'sender' from sms_send, 'default_sender' from the settings trigger.
--   numeric:       optional "+", then 1..15 digits (sent with TON 1 / NPI 1)
--   alphanumeric:  1..11 characters of the GSM 03.38 basic table, at least one of them a letter, no
--                  line breaks, no leading or trailing space (sent with TON 5 / NPI 0)
create function public.sms_check_sender(sender text, arg text default 'sender')
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
  if sender ~ '^\+?[0-9]+$' then
    sender := ltrim(sender, '+');
    if char_length(sender) > 15 then
      raise exception 'numeric % "%" has % digits; at most 15 are allowed', arg, sender, char_length(sender)
        using errcode = '22001', column = arg;
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

comment on function public.sms_check_sender(text, text) is
  'sms-outbox internal: validates and normalises a sender name or number; NULL stays NULL';


-- sms_check_recipient: a phone number in international form, returned as digits only
-- ("+7 (999) 123-45-67" -> '79991234567'). Accepted decoration: one leading "+", spaces
-- (including no-break), dashes, dots and parentheses. Then 7..15 digits (E.164 allows 15),
-- the first one 1-9: a number starting with 0 is national or a trunk prefix and cannot be
-- routed internationally. Nor can 89: that country code is unassigned (ITU spare), and
-- "8 9xx ..." is how Russian mobile numbers are written nationally, the mistake this catches.
-- The well-formed case costs one translate() and one regex; the
-- diagnosis of a bad number runs only when it fails.
create function public.sms_check_recipient(recipient text)
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

comment on function public.sms_check_recipient(text) is
  'sms-outbox internal: validates a phone number and returns its international digits';
