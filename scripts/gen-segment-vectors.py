#!/usr/bin/env python3
"""Reference generator for test/vectors/segments.json.

An implementation of the segmenting rules independent of both the SQL counter and the
TypeScript codec, so neither is checked against itself. Rules (docs/reference/sql-api.md, `body` under Sending):
  GSM 03.38 7-bit when every character is in the basic or extension table (extension = 2 septets);
  single message 160 septets, else parts of 153, an escape pair never split.
  Otherwise UCS-2: 70 UTF-16 units single, else parts of 67, a surrogate pair never split.
Smart encoding (sms_settings.smart_encoding, on by default): typographic look-alikes outside GSM
03.38 are replaced by the GSM-7 characters they stand for, but only when the whole replaced text
is then GSM-7; otherwise the text is sent as it is. Letters are never transliterated. A case's
"smart" object says what is sent with it on; without one, smart encoding changes nothing.
Run: python3 scripts/gen-segment-vectors.py > test/vectors/segments.json
"""
import json

BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
         "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà").replace("\x1b", "")
EXT = "\f^{}\\[~]|€"

# The look-alikes and what each becomes ("" removes it), written from the Unicode names.
SMART = {}
for c in "\t\u00a0\u202f\u205f\u3000" + "".join(chr(c) for c in range(0x2000, 0x200b)):
    SMART[c] = " "                       # tab, no-break, en quad .. hair space, narrow no-break, math, ideographic
SMART["\u2028"] = SMART["\u2029"] = "\n"  # line / paragraph separator
for c in "\u00ad\u200b\u200c\u200d\u2060\ufeff":
    SMART[c] = ""                        # soft hyphen, zero-width space / non-joiner / joiner, word joiner, BOM
for c in "\u2018\u2019\u201a\u201b\u2032\u2035\u2039\u203a\u02bc\u00b4`":
    SMART[c] = "'"                       # single quotes, primes, single guillemets, modifier apostrophe, acute, grave
for c in "\u201c\u201d\u201e\u201f\u2033\u2036\u00ab\u00bb":
    SMART[c] = '"'                       # double quotes, double primes, guillemets
for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\ufe58\ufe63\uff0d":
    SMART[c] = "-"                       # hyphens, figure dash, en/em dash, bar, hyphen bullet, minus, small/fullwidth
SMART["\u2024"], SMART["\u2025"], SMART["\u2026"] = ".", "..", "..."
SMART["\u2044"] = SMART["\u2215"] = "/"    # fraction slash, division slash
SMART["\u02c6"], SMART["\u02dc"] = "^", "~"  # modifier circumflex, small tilde

def smart(body):
    out = "".join(SMART.get(c, c) for c in body)
    replaced = sum(1 for c in body if c in SMART)
    if replaced and encoding(out) == "gsm7":
        return out, replaced
    return body, 0

def units(ch, enc):
    if enc == "gsm7":
        return 2 if ch in EXT else 1
    return 2 if ord(ch) > 0xFFFF else 1

def encoding(body):
    return "gsm7" if all(c in BASIC or c in EXT for c in body) else "ucs2"

def split(body, max_segments=10):
    enc = encoding(body)
    single, multi = (160, 153) if enc == "gsm7" else (70, 67)
    total = sum(units(c, enc) for c in body)
    if total <= single:
        return enc, total, [body]
    parts, cur, fill = [], "", 0
    for c in body:
        u = units(c, enc)
        if fill + u > multi:
            parts.append(cur); cur, fill = "", 0
        cur += c; fill += u
    if cur:
        parts.append(cur)
    return enc, total, parts

cases = []
def add(name, body, note=""):
    enc, total, parts = split(body)
    case = {"name": name, "body": body, "encoding": enc,
            "units": total, "segments": len(parts), "parts": parts,
            **({"note": note} if note else {})}
    sent, replaced = smart(body)
    if replaced:
        s_enc, s_total, s_parts = split(sent)
        case["smart"] = {"body": sent, "replaced": replaced, "encoding": s_enc,
                         "units": s_total, "segments": len(s_parts), "parts": s_parts}
    cases.append(case)

add("single char", "a")
add("single space", " ")
add("one extension char", "€")
add("one cyrillic char", "Ж")
add("one emoji", "😀", "a surrogate pair: 2 UTF-16 units")
add("gsm 159", "a" * 159)
add("gsm exactly 160", "a" * 160)
add("gsm 161 (two parts)", "a" * 161)
add("gsm 159 + extension = 161 septets", "a" * 159 + "€", "extension counts 2 septets, so this needs 2 parts")
add("gsm 158 + extension = 160 septets", "a" * 158 + "€")
add("gsm exactly 306 (2x153)", "a" * 306)
add("gsm 307 (3 parts)", "a" * 307)
add("gsm 459 (3x153)", "a" * 459)
add("gsm 460", "a" * 460)
add("extension at part boundary: escape pair would straddle 153", "a" * 152 + "€" + "b" * 10,
    "152 + 2 > 153, so the euro moves whole to part 2")
add("extension exactly fills part 1", "a" * 151 + "€" + "b" * 10)
for ch, nm in zip("^{}\\[~]|€", ["caret", "lbrace", "rbrace", "backslash", "lbracket", "tilde", "rbracket", "pipe", "euro"]):
    add(f"extension {nm} at boundary", "x" * 152 + ch + "y" * 20)
add("all extension chars 80 (160 septets)", "€" * 80)
add("all extension chars 81", "€" * 81)
add("every basic char", BASIC)
add("gsm special letters", "Ünïcödé?".replace("ï", "i").replace("é", "é"))
add("form feed is gsm extension", "a\fb")
add("ucs2 69 cyrillic", "Ж" * 69)
add("ucs2 exactly 70 cyrillic", "Ж" * 70)
add("ucs2 71 cyrillic (two parts)", "Ж" * 71)
add("ucs2 exactly 134 (2x67)", "Ж" * 134)
add("ucs2 135", "Ж" * 135)
add("ucs2 201 (3x67)", "Ж" * 201)
add("ucs2 202", "Ж" * 202)
add("emoji at ucs2 boundary: pair would straddle 67", "Ж" * 66 + "😀" + "Ж" * 10,
    "66 + 2 > 67, so the emoji moves whole to part 2")
add("emoji exactly fills part 1", "Ж" * 65 + "😀" + "Ж" * 10)
add("emoji single part 68+2=70", "Ж" * 68 + "😀")
add("emoji single part 69+2=71 -> two parts", "Ж" * 69 + "😀")
add("only emoji 35 (70 units)", "😀" * 35)
add("only emoji 36 (72 units)", "😀" * 36)
add("mixed latin and cyrillic", "Your code: 4821. Ваш код: 4821")
add("latin with one cyrillic letter forces ucs2", "a" * 100 + "Д")
add("otp russian", "Код: 4821")
add("newline and cr are gsm basic", "line1\nline2\r\nline3")
add("gsm exactly 10 parts (1530)", "a" * 1530)
add("gsm 11 parts (1531)", "a" * 1531, "one past the 10-part limit")
add("ucs2 exactly 10 parts (670)", "Ж" * 670)
add("ucs2 11 parts (671)", "Ж" * 671, "one past the 10-part limit")
add("gsm extension pushes to 11 parts", "€" * 765, "1530 septets, but 76 pairs per part (152 septets) -> 11 parts")
add("tab forces ucs2", "a\tb")
add("curly quote forces ucs2", "it’s")
add("accented not in gsm forces ucs2", "café á")
add("smart: the typographic example", "Hello \u201cworld\u201d \u2013 it\u2019s fine\u2026",
    "one GSM-7 segment with smart encoding, UCS-2 without")
add("smart: every look-alike in a Latin text", "x".join(SMART) + "x")
for c, r in SMART.items():
    add(f"smart: U+{ord(c):04X} between letters", f"a{c}b")
add("smart: cyrillic keeps its typography", "\u041f\u0440\u0438\u0432\u0435\u0442 \u2014 \u00ab\u043c\u0438\u0440\u00bb\u2026",
    "UCS-2 either way, so nothing is replaced")
add("smart: an emoji keeps the curly quotes", "\u201cok\u201d \U0001F600")
add("smart: a letter outside gsm keeps the dash", "caf\u00e9 \u00e1 \u2013 ok", "\u00e1 is not GSM-7 and is never transliterated")
add("smart: the ellipsis grows past one part", "a" * 158 + "\u2026",
    "161 septets: two GSM-7 parts instead of three UCS-2 ones")
add("smart: no-break spaces in a full single part", ("word" + "\u00a0") * 32)
add("smart: invisible characters go", "a\u200bb\u00adc\ufeffd")
add("smart: modifier circumflex becomes an extension char at the boundary", "x" * 152 + "\u02c6" + "y" * 20,
    "the caret is an escape pair and moves whole to part 2")
add("smart: only look-alikes", "\u201c\u201d\u2026")
add("smart: long text with dashes (3 parts gsm, 5 ucs2)", ("Delivery window \u2013 10:00\u201312:00. " * 10).strip())
json.dump({"description": "Shared segment vectors: the SQL counter (sms_send, sms_segments) and the TypeScript codec must both match every case. \"encoding\", \"units\", \"segments\" and \"parts\" are for smart encoding off; \"smart\", where present, is what is sent with it on (the text, characters replaced, and its count); where absent, smart encoding changes nothing. Generated by scripts/gen-segment-vectors.py.",
           "limits": {"gsm7": {"single": 160, "multi": 153}, "ucs2": {"single": 70, "multi": 67}, "maxSegments": 10},
           "cases": cases}, __import__("sys").stdout, ensure_ascii=False, indent=1)
print()
