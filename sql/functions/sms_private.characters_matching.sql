-- The characters of `body` matching the class `pattern`, each once, in the order they first
-- appear: {char, codepoint, first_at (1-based), count}; at most `max` of them.
create or replace function sms_private.characters_matching(body text, pattern text, max integer)
returns jsonb
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(jsonb_agg(jsonb_build_object('char', x.c, 'codepoint', 'U+' || lpad(upper(to_hex(ascii(x.c))), 4, '0'),
                                               'first_at', x.pos, 'count', x.n) order by x.pos), '[]'::jsonb)
    from (select t.c, min(t.pos) as pos, count(*) as n
            from regexp_split_to_table($1, '') with ordinality as t(c, pos)
           where t.c ~ $2
           group by t.c
           order by min(t.pos)
           limit $3) x
$$;

comment on function sms_private.characters_matching(text, text, integer) is
  'sms-outbox internal: the characters of a text matching a regular-expression class, each once with its code point, first position and count (sms_explain)';

revoke all on function sms_private.characters_matching(text, text, integer) from public, sms_sender, sms_reader, sms_worker;
