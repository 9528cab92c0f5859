-- sms_private.pumping_country: the country calling code an international number (digits) starts
-- with, by ITU-T E.164's assignment: 1 and 7 have one digit, the two-digit codes are listed,
-- every other code has three. '79991234567' -> '7', '447700900123' -> '44', '37120000000' -> '371'.
-- PL/pgSQL rather than SQL: a SQL function with SET is planned again at every call, and this one
-- runs twice for every code.
create or replace function sms_private.pumping_country(digits text) returns text
language plpgsql immutable parallel safe
set search_path = pg_catalog, pg_temp
as $$
begin
  if pg_catalog.left(digits, 1) in ('1', '7') then
    return pg_catalog.left(digits, 1);
  elsif pg_catalog.left(digits, 2) in ('20', '27', '30', '31', '32', '33', '34', '36', '39', '40', '41', '43', '44',
                                      '45', '46', '47', '48', '49', '51', '52', '53', '54', '55', '56', '57', '58',
                                      '60', '61', '62', '63', '64', '65', '66', '81', '82', '84', '86', '90', '91',
                                      '92', '93', '94', '95', '98') then
    return pg_catalog.left(digits, 2);
  end if;
  return pg_catalog.left(digits, 3);
end
$$;

comment on function sms_private.pumping_country(text) is
  'sms-outbox internal: the country calling code (1-3 digits) an international number in digits starts with';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.pumping_country(text) from public, sms_sender, sms_reader, sms_worker;
