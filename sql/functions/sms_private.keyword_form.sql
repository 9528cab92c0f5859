-- sms_private.keyword_form: a text as stop and start keywords are compared: in Unicode NFKC
-- (full-width ＳＴＯＰ and mathematical 𝐒𝐓𝐎𝐏 are STOP; needs a UTF8 database, others skip it),
-- without white space, invisible characters, combining marks, punctuation, symbols and emoji, in
-- upper case ("Stop!", " стоп. " are STOP and СТОП). Look-alike letters of other scripts are
-- folded only for comparing (sms_private.keyword_skeleton). upper() follows the database's
-- locale (under the C locale it changes ASCII only), so Latin-1, Greek and Cyrillic letters are
-- also mapped explicitly: 'стоп' is 'СТОП' on every server.
create or replace function sms_private.keyword_form(t text) returns text
language sql immutable strict parallel safe
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.translate(
           pg_catalog.upper(pg_catalog.regexp_replace(
             case when pg_catalog.getdatabaseencoding() = 'UTF8' then pg_catalog.normalize($1, 'NFKC') else $1 end,
             '[\s\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E\u00A0-\u00BF\u00D7\u00F7\u0300-\u036F\u034F\u061C\u1680\u180E\u1AB0-\u1AFF\u1DC0-\u1DFF\u2000-\u206F\u20A0-\u20FF\u2100-\u214F\u2190-\u2BFF\u3000-\u303F\uFE00-\uFE0F\uFE10-\uFE2F\uFE30-\uFE6F\uFEFF\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65\U0001F000-\U0001FAFF\U000E0000-\U000E007F]',
             '', 'g')),
           U&'\00E0\00E1\00E2\00E3\00E4\00E5\00E6\00E7\00E8\00E9\00EA\00EB\00EC\00ED\00EE\00EF\00F0\00F1\00F2\00F3\00F4\00F5\00F6\00F8\00F9\00FA\00FB\00FC\00FD\00FE\03AC\03AD\03AE\03AF\03B1\03B2\03B3\03B4\03B5\03B6\03B7\03B8\03B9\03BA\03BB\03BC\03BD\03BE\03BF\03C0\03C1\03C2\03C3\03C4\03C5\03C6\03C7\03C8\03C9\03CA\03CB\03CC\03CD\03CE\0430\0431\0432\0433\0434\0435\0436\0437\0438\0439\043A\043B\043C\043D\043E\043F\0440\0441\0442\0443\0444\0445\0446\0447\0448\0449\044A\044B\044C\044D\044E\044F\0450\0451\0452\0453\0454\0455\0456\0457\0458\0459\045A\045B\045C\045D\045E\045F',
           U&'\00C0\00C1\00C2\00C3\00C4\00C5\00C6\00C7\00C8\00C9\00CA\00CB\00CC\00CD\00CE\00CF\00D0\00D1\00D2\00D3\00D4\00D5\00D6\00D8\00D9\00DA\00DB\00DC\00DD\00DE\0386\0388\0389\038A\0391\0392\0393\0394\0395\0396\0397\0398\0399\039A\039B\039C\039D\039E\039F\03A0\03A1\03A3\03A3\03A4\03A5\03A6\03A7\03A8\03A9\03AA\03AB\038C\038E\038F\0410\0411\0412\0413\0414\0415\0416\0417\0418\0419\041A\041B\041C\041D\041E\041F\0420\0421\0422\0423\0424\0425\0426\0427\0428\0429\042A\042B\042C\042D\042E\042F\0400\0401\0402\0403\0404\0405\0406\0407\0408\0409\040A\040B\040C\040D\040E\040F')
$$;

comment on function sms_private.keyword_form(text) is
  'sms-outbox internal: a text as stop/start keywords are compared (NFKC; no spaces, combining marks, punctuation, symbols or emoji; upper case)';

-- Called by the sms_ functions alone (as their owner).
revoke all on function sms_private.keyword_form(text) from public, sms_sender, sms_reader, sms_worker;
