/*
 * test_dict_cidr.c - unit tests for the cidr: table type (maps/dict_cidr.c).
 *
 * Table-driven: each case is a table source, the warnings opening it must
 * log (checked in a log file) and lookups with their wanted answers. The
 * answers and warning texts were taken from Debian's Postfix 3.7 postmap.
 * A failing case prints "got X, want Y" and the test fails at the end, so
 * one run shows every broken case.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dict.h"
#include "lookup.h"
#include "msg.h"

#define DICT_TEST_NAME "test_dict_cidr"
#include "dict_table_cases.h"

#define NF LOOKUP_NOTFOUND
#define F  LOOKUP_FOUND

/* ---- rules, negation, if/endif, bad lines --------------------------------
 *
 * Every expectation below (answers and warnings) is what Debian's Postfix
 * 3.7 "postmap -q KEY cidr:FILE" gives for the same table, except that we
 * name the line in the "logical line must not start with whitespace"
 * warning.
 */
static const struct table_case cidr_cases[] = {
    {"192.168.1.0/24 A\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"[192.168.1.5]", NF, NULL},
      {"::ffff:192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.1.1/24 A\n192.168.0.0/16 B\n",
     {"line 1: non-null host address bits in \"192.168.1.1/24\", perhaps you should use \"192.168.1.0/24\" instead: skipping this rule"},
     {{"192.168.1.5", F, "B"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.1.5 A\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[192.168.1.5] A\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[192.168.1.0]/24 A\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[192.168.1.0/24] A\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"2001:db8::/32 A\n",
     {NULL},
     {{"2001:db8::1", F, "A"},
      {"[2001:db8::1]", NF, NULL},
      {"2001:db8::1%eth0", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[2001:db8::]/32 A\n",
     {NULL},
     {{"2001:db8::1", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[2001:db8::1] A\n",
     {NULL},
     {{"2001:db8::1", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"2001:DB8:0::1 A\n",
     {NULL},
     {{"2001:db8::1", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"::ffff:192.168.1.0/120 A\n",
     {NULL},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"!10.0.0.0/8 A\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"2001:db8::1", NF, NULL},
      {"1.2.3.4", F, "A"},
      {"10.1.1.1", NF, NULL}}},
    {"if !10.0.0.0/8\n::/0 A\nendif\n",
     {NULL},
     {{"2001:db8::1", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"! 10.0.0.0/8 A\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", F, "A"},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.1.0/33 A\n",
     {"line 1: bad mask length in \"192.168.1.0/33\": skipping this rule"},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.1.0/ A\n",
     {"line 1: bad mask value in \"192.168.1.0/\": skipping this rule"},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.1.0/-1 A\n",
     {"line 1: bad mask value in \"192.168.1.0/-1\": skipping this rule"},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.01.0/24 A\n",
     {"line 1: bad network value in \"192.168.01.0/24\": skipping this rule"},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"foo A\n",
     {"line 1: bad address pattern: \"foo\": skipping this rule"},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.1.0/24\n",
     {"line 1: no lookup result: skipping this rule"},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.1.0/24   \n",
     {"line 1: no lookup result: skipping this rule"},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"0.0.0.0/0 A\n",
     {NULL},
     {{"foo", NF, NULL},
      {"192.168.1.5", F, "A"},
      {"2001:db8::1", NF, NULL},
      {"1.2.3.4", F, "A"},
      {"10.1.1.1", F, "A"}}},
    {"::/0 A\n",
     {NULL},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", F, "A"},
      {"10.1.1.1", NF, NULL}}},
    {"if 192.168.0.0/16\n192.168.1.0/24 A\nendif\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if !10.0.0.0/8\n192.168.1.0/24 A\nendif\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 192.168.0.0/16\n192.168.1.0/24 A\n",
     {"line 1: IF has no matching ENDIF"},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"endif\n192.168.1.0/24 A\n",
     {"line 1: ENDIF without IF: skipping this rule"},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 192.168.0.0/16 junk\n192.168.1.0/24 A\nendif\n",
     {"line 1: bad mask value in \"192.168.0.0/16 junk\": skipping this rule",
      "line 3: ENDIF without IF: skipping this rule"},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 192.168.1.1/16\n192.168.1.0/24 A\nendif\n",
     {"line 1: non-null host address bits in \"192.168.1.1/16\", perhaps you should use \"192.168.0.0/16\" instead: skipping this rule",
      "line 3: ENDIF without IF: skipping this rule"},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if\n192.168.1.0/24 A\nendif\n",
     {"line 1: no address pattern: skipping this rule",
      "line 3: ENDIF without IF: skipping this rule"},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.1.0/24 A $1\n",
     {NULL},
     {{"192.168.1.5", F, "A $1"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"192.168.1.0/24\tA\n",
     {NULL},
     {{"192.168.1.5", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"/192.168.1.0/24 A\n",
     {"line 1: bad mask value in \"/192.168.1.0/24\": skipping this rule"},
     {{"192.168.1.5", NF, NULL},
      {"1.2.3.4", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4/32 A\n",
     {NULL},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4/032 A\n",
     {NULL},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4/+32 A\n",
     {"line 1: bad mask value in \"1.2.3.4/+32\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4/0x20 A\n",
     {"line 1: bad mask value in \"1.2.3.4/0x20\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.0/24 A\n",
     {NULL},
     {{"1.2.3", NF, NULL},
      {"01.2.3.4", NF, NULL},
      {" 1.2.3.4", NF, NULL},
      {"1.2.3.4 ", NF, NULL},
      {"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"::1 A\n",
     {NULL},
     {{"::1", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[::1]/128 A\n",
     {NULL},
     {{"::1", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"IF 1.2.3.0/24\n1.2.3.4 A\nENDIF\n",
     {NULL},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"  1.2.3.0/24 A\n",
     {"line 1: logical line must not start with whitespace"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"2001:db8::/129 A\n",
     {"line 1: bad mask length in \"2001:db8::/129\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"2001:db8::1/32 A\n",
     {"line 1: non-null host address bits in \"2001:db8::1/32\", perhaps you should use \"2001:db8::/32\" instead: skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[1.2.3.4 A\n",
     {"line 1: missing ']' character after \"[1.2.3.4\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4] A\n",
     {"line 1: bad address pattern: \"1.2.3.4]\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"foo/24 A\n",
     {"line 1: bad network value in \"foo/24\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3/24 A\n",
     {"line 1: bad network value in \"1.2.3/24\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.04 A\n",
     {"line 1: bad address pattern: \"1.2.3.04\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3 A\n",
     {"line 1: bad address pattern: \"1.2.3\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[1.2.3.4]/ A\n",
     {"line 1: bad mask value in \"1.2.3.4/\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[1.2.3.4]x A\n",
     {"line 1: garbage after \"[1.2.3.4]\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[1.2.3.4]/24x A\n",
     {"line 1: bad mask value in \"1.2.3.4/24x\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[] A\n",
     {"line 1: bad address pattern: \"\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[]/0 A\n",
     {"line 1: bad network value in \"/0\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"/0 A\n",
     {"line 1: bad network value in \"/0\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"! A\n",
     {"line 1: bad address pattern: \"A\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"!! 1.2.3.4 A\n",
     {NULL},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 1.2.3.0 junk\n1.2.3.4 A\nendif\n",
     {"line 1: bad address pattern: \"1.2.3.0 junk\": skipping this rule",
      "line 3: ENDIF without IF: skipping this rule"},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if ! 1.2.3.0/24\n1.2.3.4 A\nendif\n1.2.3.4 B\n",
     {NULL},
     {{"1.2.3.4", F, "B"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 1.2.3.0/24  \n1.2.3.4 A\nendif\n",
     {NULL},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 1.2.3.0/24\n1.2.3.4 A\nendif junk\n",
     {"line 3: garbage after ENDIF: skipping this rule",
      "line 1: IF has no matching ENDIF"},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 1.2.3.0/24\n1.2.3.4 A\nendif\nendif\n",
     {"line 4: ENDIF without IF: skipping this rule"},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"ifx 1.2.3.0/24\n1.2.3.4 A\nendif\n",
     {"line 1: bad address pattern: \"ifx\": skipping this rule",
      "line 3: ENDIF without IF: skipping this rule"},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"endifx\n1.2.3.4 A\n",
     {"line 1: bad address pattern: \"endifx\": skipping this rule"},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4    A  B  \n",
     {NULL},
     {{"1.2.3.4", F, "A  B"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4/32/1 A\n",
     {"line 1: bad mask value in \"1.2.3.4/32/1\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4//32 A\n",
     {"line 1: bad mask value in \"1.2.3.4//32\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4/99999999999999999999 A\n",
     {"line 1: bad mask length in \"1.2.3.4/99999999999999999999\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"::ffff:1.2.3.4 A\n",
     {NULL},
     {{"1.2.3.4", NF, NULL},
      {"::ffff:1.2.3.4", F, "A"},
      {"::FFFF:1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1:2:3:4:5:6:7:8:9 A\n",
     {"line 1: bad address pattern: \"1:2:3:4:5:6:7:8:9\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"fe80::1%eth0 A\n",
     {"line 1: bad address pattern: \"fe80::1%eth0\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4/0 A\n",
     {"line 1: non-null host address bits in \"1.2.3.4/0\", perhaps you should use \"0.0.0.0/0\" instead: skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"255.255.255.255/1 A\n",
     {"line 1: non-null host address bits in \"255.255.255.255/1\", perhaps you should use \"128.0.0.0/1\" instead: skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"::1/0 A\n",
     {"line 1: non-null host address bits in \"::1/0\", perhaps you should use \"::/0\" instead: skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"256.1.1.1 A\n",
     {"line 1: bad address pattern: \"256.1.1.1\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[1.2.3.4]]/24 A\n",
     {"line 1: garbage after \"[1.2.3.4]\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"foo/ A\n",
     {"line 1: bad mask value in \"foo/\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"foo/abc A\n",
     {"line 1: bad mask value in \"foo/abc\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"foo/99 A\n",
     {"line 1: bad mask length in \"foo/99\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"!\n",
     {"line 1: no address pattern: skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if !\n",
     {"line 1: no address pattern: skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[1.2.3.4/24 A\n",
     {"line 1: missing ']' character after \"[1.2.3.4/24\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[[1.2.3.4]] A\n",
     {"line 1: garbage after \"[[1.2.3.4]\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[2001:db8::1]/129 A\n",
     {"line 1: bad mask length in \"2001:db8::1/129\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"[2001:db8::1]/64 A\n",
     {"line 1: non-null host address bits in \"2001:db8::1/64\", perhaps you should use \"2001:db8::/64\" instead: skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4/32 A\n\n  cont\n",
     {NULL},
     {{"1.2.3.4", F, "A  cont"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if!1.2.3.0/24\n1.2.3.4 A\nendif\n",
     {NULL},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if1.2.3.0/24\n1.2.3.4 A\nendif\n",
     {"line 1: bad network value in \"if1.2.3.0/24\": skipping this rule",
      "line 3: ENDIF without IF: skipping this rule"},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 1.2.3.0/24\nif 1.2.0.0/16\n1.2.3.4 A\nendif\n1.2.3.4 B\nendif\n",
     {NULL},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 1.2.3.0/24\nif 1.9.0.0/16\n1.2.3.4 A\nendif\n1.2.3.4 B\nendif\n",
     {NULL},
     {{"1.2.3.4", F, "B"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"if 1.2.3.0/24\nif 1.9.0.0/16\n1.2.3.4 A\n",
     {"line 2: IF has no matching ENDIF", "line 1: IF has no matching ENDIF"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"2001:db8::/32 A\n2001:0db8:0000::0001 B\n",
     {NULL},
     {{"2001:db8::1", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"2001:db8::1 A\n",
     {NULL},
     {{"2001:0db8::1", F, "A"},
      {"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", F, "A"},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4/24 A\n",
     {"line 1: non-null host address bits in \"1.2.3.4/24\", perhaps you should use \"1.2.3.0/24\" instead: skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"::ffff:1.2.3.0/120 A\n",
     {NULL},
     {{"1.2.3.4", NF, NULL},
      {"::ffff:1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"2001:db8::/32/ A\n",
     {"line 1: bad mask value in \"2001:db8::/32/\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.4:/32 A\n",
     {"line 1: bad network value in \"1.2.3.4:/32\": skipping this rule"},
     {{"1.2.3.4", NF, NULL},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
    {"1.2.3.0/24 A\n1.2.3.4\tB\n",
     {NULL},
     {{"1.2.3.4", F, "A"},
      {"192.168.1.5", NF, NULL},
      {"2001:db8::1", NF, NULL},
      {"10.1.1.1", NF, NULL}}},
};

static void test_cidr_rules(void **state)
{
    (void) state;
    failures = 0;
    run_cases("cidr", cidr_cases, sizeof(cidr_cases) / sizeof(cidr_cases[0]));
    assert_int_equal(failures, 0);
}

static void test_inline_and_errors(void **state)
{
    static const struct {
        const char *name;
        const char *key;
        enum lookup_status st;
        const char *value;
    } cases[] = {
        {"cidr:{ {1.2.3.4 X} }", "1.2.3.4", F, "X"},
        {"cidr:{ {1.2.3.0/24 X}, {if 1.0.0.0/8}, {1.2.3.4 Y}, {endif} }",
         "1.2.3.4", F, "X"},
        {"cidr:{ {if !10.0.0.0/8}, {0.0.0.0/0 not ten}, {endif} }", "10.0.0.1",
         NF, NULL},
        {"cidr:{ {if !10.0.0.0/8}, {0.0.0.0/0 not ten}, {endif} }", "11.0.0.1",
         F, "not ten"},
        {"cidr:{}", "1.2.3.4", NF, NULL},
    };
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    struct dict *d;
    size_t i;

    (void) state;
    failures = 0;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum lookup_status st;

        d = dict_open(cases[i].name, DICT_RDONLY, DICT_FOLD_FIX, err);
        if (d == NULL) {
            print_error("%s: open failed: %s\n", cases[i].name, buf_str(err));
            failures++;
            continue;
        }
        st = dict_lookup(d, cases[i].key, value);
        if (st != cases[i].st
            || (st == F && strcmp(buf_str(value), cases[i].value) != 0)) {
            print_error("%s: lookup %s: got %s \"%s\", want %s \"%s\"\n",
                        cases[i].name, cases[i].key, lookup_status_name(st),
                        buf_str(value), lookup_status_name(cases[i].st),
                        cases[i].value ? cases[i].value : "");
            failures++;
        }
        if (!(d->flags & DICT_PATTERN) || (d->flags & DICT_FIXED)) {
            print_error("%s: got flags %#x, want DICT_PATTERN only\n",
                        cases[i].name, (unsigned) d->flags);
            failures++;
        }
        dict_close(d);
    }
    assert_int_equal(failures, 0);

    d = dict_open("cidr:/nonexistent/postern-test", DICT_RDONLY, 0, err);
    assert_null(d);
    assert_string_equal(
        buf_str(err),
        "open /nonexistent/postern-test: No such file or directory");
    d = dict_open("cidr:{ 1.2.3.4 X }", DICT_RDONLY, 0, err);
    assert_null(d);
    assert_string_equal(buf_str(err),
                        "cidr map: no '{' at start of text in \"1.2.3.4\"");
    d = dict_open("cidr:/etc/passwd", DICT_RDWR, 0, err);
    assert_null(d);
    assert_string_equal(buf_str(err),
                        "cidr:/etc/passwd map requires O_RDONLY access mode");
    buf_free(err);
    buf_free(value);
}

/* The file is remembered for dict_changed(); a rewrite is noticed. */
static void test_changed(void **state)
{
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    struct buf *name = buf_new(64);
    struct dict *d;

    (void) state;
    write_file(table_path, "192.0.2.0/24 OK\n");
    buf_setf(name, "cidr:%s", table_path);
    d = dict_open(buf_str(name), DICT_RDONLY, 0, err);
    assert_non_null(d);
    assert_string_equal(d->file, table_path);
    assert_int_equal(dict_changed(d), 0);
    assert_int_equal(dict_lookup(d, "192.0.2.77", value), LOOKUP_FOUND);
    assert_string_equal(buf_str(value), "OK");
    unlink(table_path);
    write_file(table_path, "192.0.2.0/24 REJECT\n");
    assert_int_equal(dict_changed(d), 1);
    dict_close(d);
    buf_free(err);
    buf_free(value);
    buf_free(name);
}

/* Many networks, IPv4 and IPv6: first match wins all the way down. */
static void test_many_rules(void **state)
{
    struct buf *text = buf_new(4096);
    struct buf *err = buf_new(64);
    struct buf *value = buf_new(64);
    struct buf *name = buf_new(64);
    struct buf *key = buf_new(64);
    struct dict *d;
    int i;

    (void) state;
    for (i = 0; i < 256; i++) {
        buf_printf(text, "10.%d.0.0/16 v4-%d\n", i, i);
        buf_printf(text, "2001:db8:%x::/48 v6-%d\n", i, i);
    }
    buf_puts(text, "0.0.0.0/0 any4\n::/0 any6\n");
    write_file(table_path, buf_str(text));
    buf_setf(name, "cidr:%s", table_path);
    d = dict_open(buf_str(name), DICT_RDONLY, 0, err);
    assert_non_null(d);
    for (i = 0; i < 256; i += 17) {
        buf_setf(key, "10.%d.200.1", i);
        assert_int_equal(dict_lookup(d, buf_str(key), value), LOOKUP_FOUND);
        buf_setf(key, "v4-%d", i);
        assert_string_equal(buf_str(value), buf_str(key));
        buf_setf(key, "2001:DB8:%X:ffff::1", i);
        assert_int_equal(dict_lookup(d, buf_str(key), value), LOOKUP_FOUND);
        buf_setf(key, "v6-%d", i);
        assert_string_equal(buf_str(value), buf_str(key));
    }
    assert_int_equal(dict_lookup(d, "11.0.0.1", value), LOOKUP_FOUND);
    assert_string_equal(buf_str(value), "any4");
    assert_int_equal(dict_lookup(d, "2001:db9::1", value), LOOKUP_FOUND);
    assert_string_equal(buf_str(value), "any6");
    assert_int_equal(dict_lookup(d, "not-an-address", value), LOOKUP_NOTFOUND);
    assert_int_equal(dict_lookup(d, "", value), LOOKUP_NOTFOUND);
    dict_close(d);
    buf_free(text);
    buf_free(err);
    buf_free(value);
    buf_free(name);
    buf_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_rules),
        cmocka_unit_test(test_inline_and_errors),
        cmocka_unit_test(test_changed),
        cmocka_unit_test(test_many_rules),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
