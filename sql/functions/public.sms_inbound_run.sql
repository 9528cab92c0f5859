-- sms_inbound_run: calls the reply handlers of incoming SMS the worker has just stored, in the
-- worker's transaction: pair by pair (inbox_ids[i] with rule_ids[i], as sms_inbound_matches
-- listed them), each through its rule's gateway function (sms_handler.rule_<id>: the handler
-- runs as the role that registered the rule, see sms_on_inbound), each in a subtransaction of
-- its own. Returns how many pairs it got through (the worker calls again for the rest) and how
-- many failed.
--
-- The handler sees only what it is handed: the SMS row (of its own owner's conversation:
-- sms_inbound_matches) and in_reply_to. While it runs, sms.reply_context says which rule, SMS
-- and owner it runs for (signed: sms_private.reply_context), so sms_send there enqueues for the
-- rule's owner, as a reply to that SMS (and under the auto-reply loop guard), and sms_status or
-- sms_conversation answer for that owner. The session must act as the worker role (SET LOCAL
-- ROLE), which owns nothing: a handler that clears or forges the context gets an error, not the
-- worker's identity.
--
-- A handler that raises, or runs out of time, is rolled back alone: its error goes to
-- sms_handler_error (replayable: sms_handler_replay) and the next pair is called; the SMS stays
-- stored. Time: the worker sets statement_timeout to twice timeout_ms for this statement, and
-- no handler is started once timeout_ms of it has passed, so every handler has at least
-- timeout_ms; one cancelled by the timeout ends the statement (no time is left in it). A rule
-- whose handler ran out of time 3 calls in a row is suspended: its SMS get an error row until it
-- is registered again.
--
-- What a handler leaves in the session is undone before anything else runs there: settings it
-- changed with SET (which outlive a function call: RESET ALL, then this statement's own settings
-- again); a transaction it made read-only and temporary objects it created (which could take
-- the place of the worker's tables) are refused, rolling the handler back. The worker ends the
-- transaction and then resets the session (prepared statements, cursors, LISTEN, advisory locks),
-- and the gateway fires the deferred triggers a handler queued before it returns. For the worker.
create or replace function public.sms_inbound_run(inbox_ids uuid[], rule_ids bigint[], timeout_ms integer, out done integer, out failed integer)
returns record
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  n integer := coalesce(cardinality(inbox_ids), 0);
  v_limit interval := make_interval(secs => greatest(timeout_ms, 1) / 1000.0);
  v_inbox public.sms_inbox;
  v_rule record;
  v_temp oid;
  v_state text;
  v_message text;
  v_context text;
  v_key bytea;
  v_session text;                 -- '|<backend pid>|<transaction id>' of sms.reply_context
  v_body text;
begin
  if current_setting('role') is distinct from (select x.worker from sms_private.roles x) then
    raise exception 'reply handlers run while the session acts as the worker role (set local role %), which owns nothing', (select x.worker from sms_private.roles x)
      using errcode = '42501';
  end if;
  if n <> coalesce(cardinality(rule_ids), 0) then
    raise exception 'inbox_ids and rule_ids must pair up: % and % elements', n, coalesce(cardinality(rule_ids), 0)
      using errcode = '22023';
  end if;
  done := 0;
  failed := 0;
  select k.key into v_key from sms_private.context_key k;
  v_session := '|' || pg_backend_pid() || '|' || pg_current_xact_id();
  for i in 1 .. n loop
    if i > 1 and clock_timestamp() - statement_timestamp() >= v_limit then
      return;
    end if;
    done := i;
    select x.* into v_inbox from public.sms_inbox x where x.id = inbox_ids[i];
    select r.id, r.owner, r.runs_as, r.suspended_at, r.suspended_reason into v_rule
      from public.sms_inbound_rule r where r.id = rule_ids[i];
    -- Removed meanwhile, or no longer this owner's SMS: nothing to call.
    continue when v_inbox.id is null or v_rule.id is null or v_rule.owner is distinct from v_inbox.owner;
    if v_rule.suspended_at is not null then
      v_state := '55000';
      v_message := format('rule %s is suspended since %s (%s); register it again with sms_on_inbound to resume, then replay this',
                          v_rule.id, v_rule.suspended_at, v_rule.suspended_reason);
      v_context := null;
    else
      -- The handler's context, signed (sms_private.reply_context reads it).
      v_body := v_rule.id || '|' || v_inbox.id || v_session || '|' || encode(convert_to(v_rule.owner, 'UTF8'), 'hex')
                || '|' || encode(convert_to(v_rule.runs_as::text, 'UTF8'), 'hex');
      perform set_config('sms.reply_context', v_body || '|' || encode(sha256(v_key || convert_to(v_body, 'UTF8') || v_key), 'hex'), true);
      v_temp := pg_my_temp_schema();
      v_state := null;
      begin
        execute format('select sms_handler.%I($1, $2)', 'rule_' || v_rule.id) using v_inbox, v_inbox.in_reply_to;
        if current_setting('transaction_read_only') = 'on' then
          raise exception 'the reply handler made the transaction read-only' using errcode = '25006';
        end if;
        if pg_my_temp_schema() is distinct from v_temp then
          raise exception 'a reply handler may not create temporary objects: they would outlive it in the worker''s session'
            using errcode = '42501';
        end if;
        -- Back to the session's own settings (every name below is schema-qualified, and the
        -- temporary schema is known to be as it was), then this statement's time limit again.
        reset all;
        perform set_config('statement_timeout', (2 * timeout_ms)::text, true);
        perform set_config('sms.reply_context', '', true);
        delete from public.sms_handler_error e where e.inbox_id = v_inbox.id and e.rule_id = v_rule.id;
        update public.sms_inbound_rule r set timeouts = 0 where r.id = v_rule.id and r.timeouts > 0;
      exception when others or query_canceled then
        get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_context = pg_exception_context;
        perform set_config('sms.reply_context', '', true);
      end;
    end if;
    if v_state is not null then
      failed := failed + 1;
      insert into public.sms_handler_error as e (inbox_id, rule_id, owner, error_code, error_message, error_context)
      values (v_inbox.id, v_rule.id, v_rule.owner, v_state, left(v_message, 2000), left(v_context, 2000))
      on conflict (inbox_id, rule_id) do update
        set failed_at = now(), error_code = excluded.error_code, error_message = excluded.error_message,
            error_context = excluded.error_context, attempts = e.attempts + 1, replay_requested_at = null;
      if v_state = '57014' then
        update public.sms_inbound_rule r
           set timeouts = r.timeouts + 1,
               suspended_at = case when r.timeouts + 1 >= 3 then now() end,
               suspended_reason = case when r.timeouts + 1 >= 3 then 'its handler ran out of time 3 calls in a row' end
         where r.id = v_rule.id and r.suspended_at is null;
        return;                   -- the statement's time is spent: the worker calls again for the rest
      end if;
    end if;
  end loop;
end
$$;

comment on function public.sms_inbound_run(uuid[], bigint[], integer) is
  'sms-outbox: for the worker: calls the reply handlers of stored incoming SMS, each in a subtransaction, as its rule''s role; returns the pairs done and failed';

revoke all on function public.sms_inbound_run(uuid[], bigint[], integer) from public, sms_sender, sms_reader, sms_worker;
grant execute on function public.sms_inbound_run(uuid[], bigint[], integer) to sms_worker;
