-- sms_private.pumping_auth_user_confirmed: Supabase Auth confirmed a phone. Auth sets
-- auth.users.phone_confirmed_at to the time of verification each time a code sent by SMS is
-- verified (sign-up, sign-in and phone change alike, in the transaction of the /verify request),
-- so the codes of that number still within their validity count as confirmed
-- (sms_private.pumping_confirm). Never fails Auth's request: an error here is a WARNING in the
-- server log and the sign-in goes on.
--
-- The trigger is created where auth.users exists and whoever runs `sms-outbox migrate` may
-- create triggers on it (on Supabase, postgres holds every privilege on the auth tables).
create or replace function sms_private.pumping_auth_user_confirmed() returns trigger
language plpgsql volatile security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_state text;
  v_message text;
begin
  begin
    perform sms_private.pumping_confirm(sms_private.check_recipient(new.phone::text), sms_private.pumping_now());
  exception when others then
    get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
    raise warning 'sms-outbox: a phone confirmation was not counted for the pumping defence: % %', v_state, v_message;
  end;
  return null;
end
$$;

comment on function sms_private.pumping_auth_user_confirmed() is
  'sms-outbox internal: counts a phone confirmed by Supabase Auth (auth.users.phone_confirmed_at) for the pumping defence (trigger sms_pumping_phone_confirmed)';

-- Called by its trigger alone.
revoke all on function sms_private.pumping_auth_user_confirmed() from public, sms_sender, sms_reader, sms_worker;

do $$
declare
  users regclass := pg_catalog.to_regclass('auth.users');
begin
  -- Nested, not ANDed: nothing may read auth.users where it does not exist.
  if users is not null then
    if pg_catalog.has_table_privilege(users, 'TRIGGER')
       and exists (select from pg_catalog.pg_attribute a
                    where a.attrelid = users and a.attname = 'phone_confirmed_at' and not a.attisdropped) then
      if exists (select from pg_catalog.pg_trigger t where t.tgrelid = users and t.tgname = 'sms_pumping_phone_confirmed') then
        drop trigger sms_pumping_phone_confirmed on auth.users;
      end if;
      create trigger sms_pumping_phone_confirmed
        after update of phone_confirmed_at on auth.users
        for each row
        when (new.phone_confirmed_at is not null and new.phone_confirmed_at is distinct from old.phone_confirmed_at
              and new.phone is not null)
        execute function sms_private.pumping_auth_user_confirmed();
    end if;
  end if;
end
$$;
