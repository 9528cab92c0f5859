-- sms_private.change_opt_out: opts a recipient out (opt_out true) or back in, and logs it in
-- sms_opt_out_log (every change, and every keyword or call that found nothing to change, for
-- audits and sms_opt_out_stats); true when the recipient's state changed. Marketing messages are
-- never sent to a recipient in sms_opt_out: sms_send stores them rejected, the claim rejects
-- those enqueued before the opt-out. Transactional messages (codes, receipts) always go.
create or replace function sms_private.change_opt_out(opt_out boolean, recipient text, source text, keyword text, inbox_id uuid, actor text)
returns boolean
language plpgsql volatile
set search_path = pg_catalog, pg_temp
as $$
declare
  changed boolean;
begin
  if change_opt_out.opt_out then
    insert into public.sms_opt_out as x (recipient, source, keyword, inbox_id, actor)
    values (change_opt_out.recipient, change_opt_out.source, change_opt_out.keyword, change_opt_out.inbox_id, change_opt_out.actor)
    on conflict on constraint sms_opt_out_pkey do nothing;
  else
    delete from public.sms_opt_out x where x.recipient = change_opt_out.recipient;
  end if;
  changed := found;
  insert into public.sms_opt_out_log (recipient, action, source, keyword, inbox_id, actor, changed)
  values (change_opt_out.recipient, case when change_opt_out.opt_out then 'opt_out' else 'opt_in' end,
          change_opt_out.source, change_opt_out.keyword, change_opt_out.inbox_id, change_opt_out.actor, changed);
  return changed;
end
$$;

comment on function sms_private.change_opt_out(boolean, text, text, text, uuid, text) is
  'sms-outbox internal: opts a recipient out of marketing messages (or back in) and logs it; true when its state changed';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.change_opt_out(boolean, text, text, text, uuid, text) from public, sms_sender, sms_reader, sms_worker;
