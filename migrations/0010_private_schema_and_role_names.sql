-- sms-outbox 0010: a private schema for the internals, and role names of this database's own.
--
-- 1. Schema sms_private holds what only the sms_ functions call. Nobody but its owner (the
--    role that runs the migrations) may create objects in it, so no other role can add an
--    overload that makes an internal call ambiguous (42725) or resolve to its own code. In
--    schema public that protection does not exist: PostgreSQL 13 and 14 let every role create
--    there, and an overload with a defaulted extra argument makes even a call with the exact
--    argument types ambiguous. The internals of 0002 are copied here (with the rules this
--    release adds); the public copies go in 0011, once nothing calls them.
--
-- 2. Roles are server-wide, so two databases on one server that both use the default names
--    share them: a role granted sms_sender for one can send in the other. SMS_ROLE_PREFIX
--    (read by `sms-outbox migrate`, default sms_) names a database's roles <prefix>sender,
--    <prefix>reader and <prefix>worker. The files in migrations/ write the default names;
--    `sms-outbox migrate` (src/db/migrate.ts) and the Supabase CLI migration generator
--    (scripts/gen-supabase-migration.ts) replace the three words sms_sender, sms_reader and
--    sms_worker with the configured names before running a file (the recorded checksum is
--    that of the file as written). This file records the names in sms_private.roles, and
--    every function that grants or checks a role from here on reads them there.
--    sms_private.switch_role_prefix moves an installed database to other names
--    (`sms-outbox migrate --switch-role-prefix`).

create schema sms_private;
revoke all on schema sms_private from public;

comment on schema sms_private is
  'sms-outbox internals: called only by the sms_ functions in public; no grants to anyone';


-- The names of this database's three roles (one row). Written by the substitution described
-- above; changed only by sms_private.switch_role_prefix.
create table sms_private.roles (
  id     boolean primary key default true check (id),
  sender text not null,
  reader text not null,
  worker text not null
);
alter table sms_private.roles enable row level security;
insert into sms_private.roles (sender, reader, worker) values ('sms_sender', 'sms_reader', 'sms_worker');

comment on table sms_private.roles is
  'sms-outbox: the names of this database''s sender, reader and worker roles (SMS_ROLE_PREFIX at install; sms_private.switch_role_prefix changes them)';


-- The internals -----------------------------------------------------------------------------
--
-- Copies of 0002's sms_count_segments, sms_check_body, sms_check_sender and
-- sms_check_recipient, with these changes:
--   * Sizes first. A text longer than any message can be is refused before anything scans it:
--     a body over 39015 characters (255 parts of 153 GSM-7 characters; sms_settings.max_segments
--     is at most 255), a recipient or sender over 64 characters. Counting a 10-million-character
--     body took 34 s of backend CPU before it was refused, and a long sender or recipient was
--     echoed whole in the error message.
--   * A body needs a visible character: white space alone was refused, but a body of format
--     characters (U+200D, U+2060, U+202E, tag characters, ...) that display as nothing was sent.
--   * A numeric sender is an international number (sent with TON 1), so it starts with its
--     country code, 1-9: '0' and '0000' were accepted.

-- The most characters an SMS can hold: 255 parts (the top of sms_settings.max_segments) of 153.
create function sms_private.count_segments(body text, out encoding text, out units integer, out segments integer)
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


-- check_body: the rules for what may be sent, then the count; with max_segments given, a body
-- needing more parts is rejected (22001) with the reason in the message.
--
-- "Visible": not white space and not one of Unicode's default-ignorable code points, the
-- characters a renderer shows as nothing: soft hyphen U+00AD, U+034F, U+061C, the Hangul
-- fillers U+115F, U+1160, U+3164, U+FFA0, U+17B4-U+17B5, U+180B-U+180F, the zero-width and
-- direction marks U+200B-U+200F, U+202A-U+202E, U+2060-U+206F, variation selectors
-- U+FE00-U+FE0F and U+E0100-U+E01EF, U+FEFF, U+FFF0-U+FFF8, U+1BCA0-U+1BCA3,
-- U+1D173-U+1D17A, and the tag characters U+E0000-U+E0FFF; plus the interlinear annotation
-- marks U+FFF9-U+FFFB and the blank braille pattern U+2800. sms_send (0011) repeats the class
-- in its fast path.
create function sms_private.check_body(body text, max_segments integer default null,
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


-- check_sender: validates a sender and returns it normalised (a numeric sender loses its "+").
-- NULL stays NULL. `arg` names the argument in messages: 'sender' from sms_send,
-- 'default_sender' from the settings trigger.
--   numeric:       optional "+", then 1..15 digits, the first one 1-9 (sent with TON 1 / NPI 1:
--                  an international number, country code first)
--   alphanumeric:  1..11 characters of the GSM 03.38 basic table, at least one of them a letter, no
--                  line breaks, no leading or trailing space (sent with TON 5 / NPI 0)
create function sms_private.check_sender(sender text, arg text default 'sender')
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


-- check_recipient: a phone number in international form, returned as digits only
-- ("+7 (999) 123-45-67" -> '79991234567'). Accepted decoration: one leading "+", spaces
-- (including no-break), dashes, dots and parentheses. Then 7..15 digits (E.164 allows 15),
-- the first one 1-9: a number starting with 0 is national or a trunk prefix and cannot be
-- routed internationally. Nor can 89: that country code is unassigned (ITU spare), and
-- "8 9xx ..." is how Russian mobile numbers are written nationally, the mistake this catches.
-- The well-formed case costs one translate() and one regex; the diagnosis of a bad number
-- runs only when it fails.
create function sms_private.check_recipient(recipient text)
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


-- The callers of 0002's internals that are not part of the send path move to these now; the
-- send path (sms_send, sms_send_to_self) moves in 0011.

create or replace function public.sms_settings_check() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  new.default_sender := sms_private.check_sender(new.default_sender, 'default_sender');
  new.updated_at := now();
  return new;
end
$$;

-- sms_segments: the counter sms_send uses, so an app can preview what a text costs. It counts
-- any text of at most 39015 characters (NULL gives NULLs; a longer text is 22001, since no SMS
-- can hold it); whether sms_send would accept it (non-blank, no control characters, within
-- sms_settings.max_segments) is sms_send's business.
create or replace function public.sms_segments(body text, out encoding text, out units integer, out segments integer)
language sql immutable strict security definer
set search_path = pg_catalog, pg_temp
as $$
  select c.encoding, c.units, c.segments from sms_private.count_segments($1) c
$$;


-- Granting by the recorded names ----------------------------------------------------------

-- sms_strip_inherited_grants (0006), now reading the role names from sms_private.roles and
-- covering sms_private too: every privilege the sms_ objects in public and the objects in
-- sms_private were born with, apart from their owner's and our three roles', is revoked.
create or replace function public.sms_strip_inherited_grants() returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  obj record;
  grantee_name text;
  ours text[];
begin
  select array[r.sender, r.reader, r.worker] into ours from sms_private.roles r;
  for obj in
    select case c.relkind when 'S' then 'sequence' else 'table' end as kind,
           c.oid::regclass::text as name, c.relacl as acl, c.relowner as owner
      from pg_catalog.pg_class c
     where ((c.relnamespace = 'public'::regnamespace and c.relname like 'sms\_%')
            or c.relnamespace = 'sms_private'::regnamespace)
       and c.relkind in ('r', 'p', 'v', 'm', 'S')
    union all
    select case p.prokind when 'p' then 'procedure' else 'function' end,
           p.oid::regprocedure::text, p.proacl, p.proowner
      from pg_catalog.pg_proc p
     where (p.pronamespace = 'public'::regnamespace and p.proname like 'sms\_%')
        or p.pronamespace = 'sms_private'::regnamespace
  loop
    execute pg_catalog.format('revoke all on %s %s from public', obj.kind, obj.name);
    for grantee_name in
      select distinct r.rolname
        from pg_catalog.aclexplode(obj.acl) a
        join pg_catalog.pg_roles r on r.oid = a.grantee
       where a.grantee <> obj.owner
         and r.rolname <> all (ours)
    loop
      execute pg_catalog.format('revoke all on %s %s from %I', obj.kind, obj.name, grantee_name);
    end loop;
  end loop;
  -- Put back the grants Supabase's API roles are meant to have (0008).
  if pg_catalog.to_regprocedure('public.sms_grant_supabase_roles()') is not null then
    perform public.sms_grant_supabase_roles();
  end if;
end
$$;

-- sms_grant_supabase_roles (0008), mirroring the grants of the recorded sender role.
create or replace function public.sms_grant_supabase_roles() returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  f text;
begin
  if exists (select from pg_catalog.pg_roles where rolname = 'service_role') then
    for f in
      select p.oid::regprocedure::text
        from pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a, sms_private.roles r
       where p.pronamespace = 'public'::regnamespace
         and p.proname like 'sms\_%'
         and a.grantee = pg_catalog.to_regrole(r.sender)
         and a.privilege_type = 'EXECUTE'
    loop
      execute pg_catalog.format('grant execute on function %s to service_role', f);
    end loop;
  end if;
  if exists (select from pg_catalog.pg_roles where rolname = 'authenticated') then
    if coalesce((select s.enabled from public.sms_self_send_settings s), false) then
      grant execute on function public.sms_send_to_self(text, text) to authenticated;
    else
      revoke execute on function public.sms_send_to_self(text, text) from authenticated;
    end if;
  end if;
end
$$;

-- sms_grant_worker_graphile (0005), granting to the recorded worker role. A policy of an
-- earlier worker role (before sms_private.switch_role_prefix) is pointed at the current one.
create or replace function public.sms_grant_worker_graphile() returns void
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  t regclass;
  w text;
begin
  if to_regnamespace('graphile_worker') is null then
    raise exception 'schema graphile_worker does not exist; sms-outbox migrate installs it before calling sms_grant_worker_graphile()'
      using errcode = '3F000';
  end if;
  select r.worker into w from sms_private.roles r;
  execute format('grant usage on schema graphile_worker to %I', w);
  execute format('grant all on all tables in schema graphile_worker to %I', w);
  execute format('grant all on all sequences in schema graphile_worker to %I', w);
  execute format('grant all on all routines in schema graphile_worker to %I', w);
  for t in
    select c.oid::regclass
      from pg_class c
     where c.relnamespace = 'graphile_worker'::regnamespace
       and c.relkind in ('r', 'p')
       and c.relrowsecurity
  loop
    if not exists (select from pg_policy p where p.polrelid = t and p.polname = 'sms_worker_all') then
      execute format('create policy sms_worker_all on %s for all to %I using (true) with check (true)', t, w);
    elsif not exists (select from pg_policy p where p.polrelid = t and p.polname = 'sms_worker_all'
                                              and p.polroles = array[to_regrole(w)::oid]) then
      execute format('alter policy sms_worker_all on %s to %I', t, w);
    end if;
  end loop;
end
$$;


-- Moving a database to other role names ---------------------------------------------------

-- move_role_grants(old, new): every privilege `old` holds in this database on sms-outbox's
-- objects (the sms_ tables, views, sequences and functions in public, everything in
-- sms_private and graphile_worker, and those schemas themselves), column privileges
-- included, is granted to `new` and revoked from `old`; every policy on those tables that
-- names `old` names `new` instead. Grants on your own objects are left alone, and so is
-- role membership (server-wide: which logins hold which role is yours to change).
create function sms_private.move_role_grants(old_role text, new_role text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  old_oid oid := pg_catalog.to_regrole(old_role);
  obj record;
  col record;
  pol record;
  privs text;
begin
  if old_oid is null then
    return;                                   -- nothing can be granted to a role that is gone
  end if;
  -- Tables, views and sequences.
  for obj in
    select c.oid, c.oid::regclass::text as name,
           case c.relkind when 'S' then 'sequence' else 'table' end as kind, c.relacl as acl
      from pg_catalog.pg_class c
     where ((c.relnamespace = 'public'::regnamespace and c.relname like 'sms\_%')
            or c.relnamespace = 'sms_private'::regnamespace
            or c.relnamespace = pg_catalog.to_regnamespace('graphile_worker'))
       and c.relkind in ('r', 'p', 'v', 'm', 'S')
  loop
    select pg_catalog.string_agg(distinct a.privilege_type, ', ') into privs
      from pg_catalog.aclexplode(obj.acl) a
     where a.grantee = old_oid;
    if privs is not null then
      execute pg_catalog.format('grant %s on %s %s to %I', privs, obj.kind, obj.name, new_role);
    end if;
    for col in
      select at.attname, pg_catalog.string_agg(distinct a.privilege_type, ', ') as privs
        from pg_catalog.pg_attribute at, pg_catalog.aclexplode(at.attacl) a
       where at.attrelid = obj.oid and at.attnum > 0 and not at.attisdropped and a.grantee = old_oid
       group by at.attname
    loop
      execute pg_catalog.format('grant %s (%I) on table %s to %I', col.privs, col.attname, obj.name, new_role);
    end loop;
    -- Revoking on the table revokes its column privileges too.
    execute pg_catalog.format('revoke all on %s %s from %I', obj.kind, obj.name, old_role);
  end loop;
  -- Functions and procedures.
  for obj in
    select p.oid::regprocedure::text as name
      from pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
     where ((p.pronamespace = 'public'::regnamespace and p.proname like 'sms\_%')
            or p.pronamespace = 'sms_private'::regnamespace
            or p.pronamespace = pg_catalog.to_regnamespace('graphile_worker'))
       and a.grantee = old_oid
  loop
    execute pg_catalog.format('grant execute on routine %s to %I', obj.name, new_role);
    execute pg_catalog.format('revoke all on routine %s from %I', obj.name, old_role);
  end loop;
  -- The schemas (0006 grants USAGE on public where the migrating role may).
  for obj in
    select n.nspname, pg_catalog.string_agg(distinct a.privilege_type, ', ') as privs
      from pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
     where n.nspname in ('public', 'sms_private', 'graphile_worker')
       and a.grantee = old_oid
       and pg_catalog.pg_has_role(current_user, n.nspowner, 'USAGE')
     group by n.nspname
  loop
    execute pg_catalog.format('grant %s on schema %I to %I', obj.privs, obj.nspname, new_role);
    execute pg_catalog.format('revoke all on schema %I from %I', obj.nspname, old_role);
  end loop;
  -- Policies.
  for pol in
    select p.polname, p.polrelid::regclass::text as rel,
           (select pg_catalog.string_agg(case when r = old_oid then pg_catalog.quote_ident(new_role)
                                              when r = 0 then 'public'
                                              else pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(r)) end, ', ')
              from pg_catalog.unnest(p.polroles) r) as roles
      from pg_catalog.pg_policy p
      join pg_catalog.pg_class c on c.oid = p.polrelid
     where old_oid = any (p.polroles)
       and ((c.relnamespace = 'public'::regnamespace and c.relname like 'sms\_%')
            or c.relnamespace = 'sms_private'::regnamespace
            or c.relnamespace = pg_catalog.to_regnamespace('graphile_worker'))
  loop
    execute pg_catalog.format('alter policy %I on %s to %s', pol.polname, pol.rel, pol.roles);
  end loop;
end
$$;

comment on function sms_private.move_role_grants(text, text) is
  'sms-outbox internal: moves the privileges and policies one role holds on sms-outbox''s objects in this database to another role';


-- switch_role_prefix(prefix): makes <prefix>sender, <prefix>reader and <prefix>worker this
-- database's roles, creating them where missing (NOLOGIN, as 0001 does; needs CREATEROLE), and
-- moves every grant and policy of the current ones to them. `sms-outbox migrate
-- --switch-role-prefix` calls it with SMS_ROLE_PREFIX; the role that ran the migrations may
-- call it too. The old roles keep their grants in other databases and their members; grant
-- the new roles to this database's logins (before, to avoid a gap).
create function sms_private.switch_role_prefix(prefix text) returns void
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  current_names text[];
  new_names text[];
  i integer;
begin
  if prefix is null or prefix !~ '^[a-z_][a-z0-9_]*$' or char_length(prefix) > 57 or left(prefix, 3) = 'pg_' then
    raise exception 'role prefix % is not valid: expected lower-case letters, digits and _, not starting with a digit or pg_, at most 57 characters',
        coalesce(quote_literal(prefix), 'NULL')
      using errcode = '22023';
  end if;
  select array[r.sender, r.reader, r.worker] into current_names from sms_private.roles r;
  new_names := array[prefix || 'sender', prefix || 'reader', prefix || 'worker'];
  for i in 1 .. 3 loop
    continue when new_names[i] = current_names[i];
    if not exists (select from pg_catalog.pg_roles where rolname = new_names[i]) then
      begin
        execute pg_catalog.format('create role %I nologin', new_names[i]);
      exception
        -- A concurrent migration of another database created it first.
        when duplicate_object or unique_violation then null;
      end;
    end if;
    perform sms_private.move_role_grants(current_names[i], new_names[i]);
  end loop;
  update sms_private.roles r set sender = new_names[1], reader = new_names[2], worker = new_names[3];
end
$$;

comment on function sms_private.switch_role_prefix(text) is
  'sms-outbox: makes <prefix>sender/reader/worker this database''s roles and moves every grant and policy of the current ones to them (sms-outbox migrate --switch-role-prefix)';


select public.sms_strip_inherited_grants();
