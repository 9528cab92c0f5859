-- sms_on_inbound: registers a reply handler, a function the worker calls as
-- handler(inbox sms_inbox, in_reply_to uuid) for each incoming SMS of the caller's conversations
-- (sms_inbox.owner: the SMS answers one of the caller's messages, or was sent to a number the
-- caller's rules claim) that matches every condition given:
--   keywords           its first word is one of these, compared as stop keywords are (case,
--                      punctuation, look-alike letters ignored: 'Да!' is ДА);
--   pattern            its whole text matches this regular expression (~);
--   recipient          it was sent to this number or short code; the oldest rule naming a number
--                      also claims the SMS to it that answer no message of anyone's;
--   reply_to_category  it answers a message of this category;
--   reply_to_metadata  it answers a message whose metadata contains this object (@>).
-- Returns the rule's id; the same call again returns the same id (and resumes the rule if it was
-- suspended), so a migration may run it on every deploy.
--
-- The handler runs inside the worker's transaction that stores the SMS, with the rights of the
-- role that registered it, never the worker's. For that, each rule gets a gateway function
-- sms_handler.rule_<id>(inbox, in_reply_to): SECURITY DEFINER, owned by that role, calling the
-- handler and then firing the deferred triggers the handler queued (so they too run with that
-- role's rights, not the worker's at COMMIT). Only the owner of the schema may use schema
-- sms_handler: the role owning a gateway can neither name it nor change it, so whether or not
-- the handler itself is SECURITY DEFINER (and whatever it is changed to later), it runs as that
-- role or as the role that owns it. Making another role own the gateway needs the owner of the
-- schema to be a member of it (a superuser is); otherwise 42501 says what to grant. The handler
-- must pin its search_path with pg_temp last (`set search_path = my_schema, pg_temp`): it runs
-- in the worker's session, whose temporary schema would otherwise come first for its tables.
--
-- Refused (the error names the argument): no handler, one that is not a function of
-- (sms_inbox, uuid), one the role may not execute, one without that search_path; an empty or
-- blank keyword list or a keyword of two words; an empty, too long or invalid pattern; a
-- recipient that is not 3 to 15 digits; another category; metadata that is not an object. A
-- request's user (Supabase's authenticated:<user>) cannot register one: rules belong to roles.
create or replace function public.sms_on_inbound(
  handler           regprocedure,
  keywords          text[] default null,
  pattern           text default null,
  recipient         text default null,
  reply_to_category text default null,
  reply_to_metadata jsonb default null
) returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_owner text;
  v_role text;
  f record;
  v_path text;
  k text;
  v_keywords text[];
  v_keys text[];
  v_form text;
  v_recipient text;
  v_id bigint;
  v_fn text;
  v_super boolean;
begin
  if current_setting('role') = (select x.worker from sms_private.roles x) then
    raise exception 'the worker role, and a reply handler, cannot register reply handlers'
      using errcode = '42501';
  end if;
  v_owner := sms_private.caller_owner();
  v_role := case when v_owner = quote_ident(session_user::text) then session_user::text else sms_private.caller_role() end;
  if v_owner <> quote_ident(v_role) then
    raise exception 'reply handlers belong to roles; % is a user of role %', v_owner, v_role
      using errcode = '42501',
            hint = 'register it from a server connection (a role of your own, or service_role on Supabase)';
  end if;

  if sms_on_inbound.handler is null then
    raise exception 'handler must not be null; expected a function of (sms_inbox, uuid), e.g. ''orders.on_sms_reply(sms_inbox, uuid)''::regprocedure'
      using errcode = '22004', column = 'handler';
  end if;
  select p.prokind, p.pronargs = 2 and p.proargtypes[0] = 'public.sms_inbox'::regtype and p.proargtypes[1] = 'uuid'::regtype as shape, p.proconfig, p.proname, n.nspname, p.pronamespace
    into f
    from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace
   where p.oid = sms_on_inbound.handler;
  if not found then
    raise exception 'handler % does not exist', sms_on_inbound.handler::oid
      using errcode = '42883', column = 'handler';
  end if;
  if f.prokind <> 'f' then
    raise exception 'handler % is a %; expected a function', sms_on_inbound.handler,
        case f.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'window function' end
      using errcode = '22023', column = 'handler';
  end if;
  if not f.shape then
    raise exception 'handler % must take (inbox sms_inbox, in_reply_to uuid)', sms_on_inbound.handler
      using errcode = '22023', column = 'handler';
  end if;
  if not has_schema_privilege(v_role, f.pronamespace, 'USAGE') or not has_function_privilege(v_role, sms_on_inbound.handler, 'EXECUTE') then
    raise exception 'handler % runs as %, which may not call it', sms_on_inbound.handler, v_role
      using errcode = '42501', column = 'handler',
            hint = format('grant usage on schema %I to %I; grant execute on function %s to %I;', f.nspname, v_role, sms_on_inbound.handler, v_role);
  end if;
  select substr(c, 13) into v_path from unnest(f.proconfig) c where c like 'search_path=%';
  if v_path is null or v_path !~* '(^|,)\s*"?pg_temp"?\s*$' then
    raise exception 'handler % must pin its search_path, with pg_temp last: it runs in the worker''s session', sms_on_inbound.handler
      using errcode = '22023', column = 'handler',
            hint = format('alter function %s set search_path = %I, pg_temp;', sms_on_inbound.handler, f.nspname);
  end if;

  if sms_on_inbound.keywords is not null then
    if cardinality(sms_on_inbound.keywords) = 0 then
      raise exception 'keywords must not be empty; pass NULL to match any text'
        using errcode = '22023', column = 'keywords';
    end if;
    foreach k in array sms_on_inbound.keywords loop
      if k is null then
        raise exception 'keywords must not hold NULL'
          using errcode = '22004', column = 'keywords';
      end if;
      if btrim(k) ~ '\s' then
        raise exception 'keywords: % is more than one word; a keyword is compared with the first word of the SMS', quote_literal(left(k, 40))
          using errcode = '22023', column = 'keywords';
      end if;
      v_form := sms_private.keyword_form(k);
      if v_form = '' then
        raise exception 'keywords: % has no letter or digit; spaces, punctuation, symbols and emoji are ignored when keywords are compared', quote_literal(left(k, 40))
          using errcode = '22023', column = 'keywords';
      end if;
      if not v_form = any (coalesce(v_keywords, '{}')) then
        v_keywords := v_keywords || v_form;
        v_keys := v_keys || sms_private.keyword_skeleton(v_form);
      end if;
    end loop;
  end if;

  if sms_on_inbound.pattern is not null then
    if sms_on_inbound.pattern = '' then
      raise exception 'pattern must not be empty; pass NULL to match any text'
        using errcode = '22023', column = 'pattern';
    elsif char_length(sms_on_inbound.pattern) > 1000 then
      raise exception 'pattern has % characters; at most 1000 are allowed', char_length(sms_on_inbound.pattern)
        using errcode = '22001', column = 'pattern';
    end if;
    begin
      perform '' ~ sms_on_inbound.pattern;
    exception when invalid_regular_expression then
      raise exception 'pattern is not a valid regular expression: %', sqlerrm
        using errcode = '2201B', column = 'pattern';
    end;
  end if;

  if sms_on_inbound.recipient is not null then
    v_recipient := ltrim(translate(sms_on_inbound.recipient, E' \t\u00A0-.()', ''), '+');
    if v_recipient !~ '^[0-9]{3,15}$' then
      raise exception 'recipient % is not a number or short code; expected 3 to 15 digits, e.g. ''+79001234567'' or ''1234''', quote_literal(left(sms_on_inbound.recipient, 40))
        using errcode = '22023', column = 'recipient';
    end if;
  end if;
  if sms_on_inbound.reply_to_category is not null and sms_on_inbound.reply_to_category not in ('transactional', 'marketing') then
    raise exception 'reply_to_category must be ''transactional'' or ''marketing'', got %', quote_literal(left(sms_on_inbound.reply_to_category, 40))
      using errcode = '22023', column = 'reply_to_category';
  end if;
  if sms_on_inbound.reply_to_metadata is not null and jsonb_typeof(sms_on_inbound.reply_to_metadata) <> 'object' then
    raise exception 'reply_to_metadata must be a JSON object, got a JSON %', jsonb_typeof(sms_on_inbound.reply_to_metadata)
      using errcode = '22023', column = 'reply_to_metadata';
  end if;

  -- One registration at a time per owner: the same call twice at once makes one rule.
  perform pg_advisory_xact_lock(hashtextextended('sms_on_inbound ' || v_owner, 2525));
  v_fn := null;
  select r.id into v_id
    from public.sms_inbound_rule r
   where r.owner = v_owner
     and r.runs_as = v_role
     and r.handler = sms_on_inbound.handler
     and r.keywords is not distinct from v_keywords
     and r.pattern is not distinct from sms_on_inbound.pattern
     and r.recipient is not distinct from v_recipient
     and r.reply_to_category is not distinct from sms_on_inbound.reply_to_category
     and r.reply_to_metadata is not distinct from sms_on_inbound.reply_to_metadata;
  if found then
    update public.sms_inbound_rule
       set suspended_at = null, suspended_reason = null, timeouts = 0
     where id = v_id and suspended_at is not null;
    if pg_catalog.to_regprocedure(format('sms_handler.rule_%s(public.sms_inbox, uuid)', v_id)) is not null then
      return v_id;
    end if;
  else
    insert into public.sms_inbound_rule (owner, runs_as, handler, keywords, keyword_keys, pattern, recipient, reply_to_category, reply_to_metadata)
    values (v_owner, v_role, sms_on_inbound.handler, v_keywords, v_keys, sms_on_inbound.pattern, v_recipient,
            sms_on_inbound.reply_to_category, sms_on_inbound.reply_to_metadata)
    returning id into v_id;
  end if;

  v_fn := 'rule_' || v_id;
  execute format($f$
    create or replace function sms_handler.%I(inbox public.sms_inbox, in_reply_to uuid) returns void
    language plpgsql volatile security definer
    set search_path = pg_catalog, pg_temp
    as $b$
    begin
      perform %I.%I(inbox, in_reply_to);
      set constraints all immediate;
    end
    $b$
  $f$, v_fn, f.nspname, f.proname);
  execute format('comment on function sms_handler.%I(public.sms_inbox, uuid) is %L', v_fn,
                 format('sms-outbox: reply rule %s of %s: calls %s as %s', v_id, v_owner, sms_on_inbound.handler, v_role));
  if v_role <> current_user then
    v_super := (select r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user);
    begin
      -- A new owner must be able to create in the schema (superusers are not asked): for this
      -- statement only, in this transaction.
      if not v_super then
        execute format('grant create on schema sms_handler to %I', v_role);
      end if;
      execute format('alter function sms_handler.%I(public.sms_inbox, uuid) owner to %I', v_fn, v_role);
      if not v_super then
        execute format('revoke create on schema sms_handler from %I', v_role);
      end if;
    exception when insufficient_privilege then
      raise exception 'the handler must run as %, and %, the owner of the sms_ objects, cannot make a function run as that role', v_role, current_user
        using errcode = '42501',
              hint = format('make %I a member of %I (as a superuser or an admin of it: grant %I to %I;), or register the rule as %I', current_user, v_role, v_role, current_user, current_user);
    end;
  end if;
  return v_id;
end
$$;

comment on function public.sms_on_inbound(regprocedure, text[], text, text, text, jsonb) is
  'sms-outbox: registers a reply handler called as handler(inbox sms_inbox, in_reply_to uuid), with the caller''s rights, for the incoming SMS of the caller''s conversations that match; returns the rule''s id';

revoke all on function public.sms_on_inbound(regprocedure, text[], text, text, text, jsonb) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_on_inbound(regprocedure, text[], text, text, text, jsonb) to sms_sender;
