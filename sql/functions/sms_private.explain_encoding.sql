-- sms_private.explain_encoding: the encoding part of sms_explain's trail, what was chosen and
-- why. The body itself is never returned (as in sms_status): only the characters that decided the
-- encoding or cost two units, which a one-time code's digits never are. A body that is not in
-- sms_outbox.body (redacted, or a sign-in code held in sms_outbox_secret for the worker alone)
-- is explained from what the row kept: its encoding, parts and length.
create or replace function sms_private.explain_encoding(o public.sms_outbox)
returns jsonb
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  c record;
  deciding jsonb;
  heavy jsonb;
  reason text;
  smart boolean;
begin
  smart := coalesce((select s.smart_encoding from public.sms_settings s), true);
  if o.redacted_at is not null or (o.body = '' and o.body_length is not null) then
    return jsonb_build_object(
      'encoding', o.encoding, 'segments', o.segments, 'characters', o.body_length,
      'replaced_chars', o.replaced_chars, 'body_redacted_at', o.redacted_at,
      'reason', case when o.redacted_at is not null then 'the body was redacted' else 'the text is kept for the worker alone (a sign-in code)' end
                || '; it ' || case when o.redacted_at is not null then 'was' else 'is' end || ' sent as '
                || case o.encoding when 'ucs2' then 'UCS-2' else 'GSM-7' end
                || ' in ' || o.segments || ' part' || case when o.segments = 1 then '' else 's' end);
  end if;
  c := sms_private.count_segments(o.body);
  if c.encoding = 'ucs2' then
    deciding := sms_private.characters_matching(o.body,
      '[^]\n\r -?@-Z_a-z\u00A1\u00A3-\u00A5\u00A7\u00BF\u00C4-\u00C7\u00C9\u00D1\u00D6\u00D8\u00DC\u00DF\u00E0\u00E4-\u00E6\u00E8\u00E9\u00EC\u00F1\u00F2\u00F6\u00F8\u00F9\u00FC\u0393\u0394\u0398\u039B\u039E\u03A0\u03A3\u03A6\u03A8\u03A9\f^{}\\[~|\u20AC]', 10);
    heavy := sms_private.characters_matching(o.body, '[\U00010000-\U0010FFFF]', 10);
    reason := format('UCS-2 (70 characters in one SMS, 67 per part) because the text contains %s (%s) at character %s, which GSM-7 cannot encode',
                     quote_literal(deciding -> 0 ->> 'char'), deciding -> 0 ->> 'codepoint', deciding -> 0 ->> 'first_at');
    if jsonb_array_length(deciding) > 1 then
      reason := reason || format(' (and %s other such character%s)', jsonb_array_length(deciding) - 1,
                                 case when jsonb_array_length(deciding) = 2 then '' else 's' end);
    end if;
  else
    deciding := '[]'::jsonb;
    heavy := sms_private.characters_matching(o.body, '[]\f^{}\\[~|\u20AC]', 10);
    reason := 'GSM-7 (160 characters in one SMS, 153 per part): every character is in the GSM 03.38 tables';
    if jsonb_array_length(heavy) > 0 then
      reason := reason || '; extension characters such as ' || quote_literal(heavy -> 0 ->> 'char') || ' count as two';
    end if;
  end if;
  if o.replaced_chars > 0 then
    reason := reason || format('; smart encoding replaced %s typographic character%s by GSM-7 ones', o.replaced_chars,
                               case when o.replaced_chars = 1 then '' else 's' end);
  end if;
  return jsonb_build_object(
    'encoding', o.encoding,
    'segments', o.segments,
    'units', c.units,
    'characters', char_length(o.body),
    'single_limit', case c.encoding when 'ucs2' then 70 else 160 end,
    'part_limit', case c.encoding when 'ucs2' then 67 else 153 end,
    'deciding_characters', deciding,
    'double_characters', heavy,
    'replaced_chars', o.replaced_chars,
    'smart_encoding', smart,
    'reason', reason);
end
$$;

comment on function sms_private.explain_encoding(public.sms_outbox) is
  'sms-outbox internal: the encoding part of sms_explain''s trail: what was chosen, the characters that decided it, and why (never the body)';

revoke all on function sms_private.explain_encoding(public.sms_outbox) from public, sms_sender, sms_reader, sms_worker;
