/* normalize_syslog(): tables of messages in, record members out (as canonical JSON), plus
 * invariants every record must satisfy whatever the input, checked on every table case and
 * on 10,000 random and mutated messages. SHA-256 and base64 are checked against
 * independent implementations (OpenSSL's EVP directly, a decoder written here). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/tm.h"
#include "core/recycle.h"
#include "normalize/normalize.h"
#include "normalize/syslog.h"
#include "tests/test-rng.h"

#define BOM "\xEF\xBB\xBF"
#define FFFD "\xEF\xBF\xBD"
/* A literal with NUL bytes inside, and its length. */
#define BYTES(s) s, sizeof(s) - 1
#define RCV_DEFAULT "2024-06-15T12:00:00Z"

struct tcase {
        const char *name;
        const char *in;
        size_t len;               /* 0: strlen(in) */
        enum norm_format fmt;
        bool truncated;
        const char *received;     /* NULL: RCV_DEFAULT */
        const char *expect[20];   /* "path=canonical JSON" */
};

static const char *const members[] = {
        "received", "time",  "source", "format",   "host",       "app",     "msgid",
        "pid",      "procid", "facility", "severity", "message",  "sd",      "rule",
        "actor",    "action", "target", "outcome",  "criteria",   "raw_sha256", "raw",
        "raw_b64",  "flags", "error",
};

static const struct tcase cases[] = {
        /* RFC 5424 section 6.5 */
        { "5424 ex1", "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - " BOM
                      "'su root' failed for lonvick on /dev/pts/8", 0, NORM_AUTO, false, NULL,
          { "format=\"rfc5424\"", "time=\"2003-10-11T22:14:15.003000Z\"",
            "host=\"mymachine.example.com\"", "app=\"su\"", "procid=null", "pid=null",
            "msgid=\"ID47\"", "facility=\"auth\"", "severity=\"crit\"",
            "message=\"'su root' failed for lonvick on /dev/pts/8\"", "sd={}", "flags=[]",
            "error=null", "raw=null", "raw_b64=null", "criteria=[]", "rule=null" } },
        { "5424 ex2", "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% "
                      "It's time to make the do-nuts.", 0, NORM_AUTO, false, NULL,
          { "time=\"2003-08-24T12:14:15.000003Z\"", "host=\"192.0.2.1\"", "app=\"myproc\"",
            "pid=8710", "procid=\"8710\"", "msgid=null", "facility=\"local4\"",
            "severity=\"notice\"", "message=\"%% It's time to make the do-nuts.\"",
            "flags=[]" } },
        { "5424 ex3", "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                      "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
                      "eventID=\"1011\"] " BOM "An application event log entry...",
          0, NORM_AUTO, false, NULL,
          { "sd={\"exampleSDID@32473\":{\"eventID\":\"1011\",\"eventSource\":\"Application\","
            "\"iut\":\"3\"}}",
            "sd.exampleSDID@32473.iut=\"3\"", "message=\"An application event log entry...\"",
            "app=\"evntslog\"", "flags=[]" } },
        { "5424 ex4", "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                      "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
                      "eventID=\"1011\"][examplePriority@32473 class=\"high\"]",
          0, NORM_AUTO, false, NULL,
          { "sd.examplePriority@32473={\"class\":\"high\"}",
            "sd.exampleSDID@32473.eventID=\"1011\"", "message=null", "flags=[]" } },
        /* Structured data */
        { "sd escapes", "<13>1 - - - - - [x a=\"q\\\"b\" c=\"back\\\\slash\" d=\"br\\]acket\" "
                        "e=\"other\\n\" f=\"un]esc\" g=\"\"] m", 0, NORM_AUTO, false, NULL,
          { "sd.x.a=\"q\\\"b\"", "sd.x.c=\"back\\\\slash\"", "sd.x.d=\"br]acket\"",
            "sd.x.e=\"other\\\\n\"", "sd.x.f=\"un]esc\"", "sd.x.g=\"\"", "message=\"m\"",
            "flags=[\"no_timestamp\"]" } },
        { "sd repeated param", "<13>1 - - - - - [x a=\"1\" b=\"4\" a=\"2\" a=\"3\"]", 0,
          NORM_AUTO, false, NULL,
          { "sd.x.a=[\"1\",\"2\",\"3\"]", "sd.x.b=\"4\"", "message=null" } },
        { "sd empty element", "<13>1 - - - - - [x][y@1 k=\"v\"] hi", 0, NORM_AUTO, false, NULL,
          { "sd={\"x\":{},\"y@1\":{\"k\":\"v\"}}", "message=\"hi\"" } },
        { "sd unterminated value", "<13>1 - h a - - [x a=\"1\" b=\"2", 0, NORM_AUTO, false,
          NULL,
          { "sd={}", "message=\"[x a=\\\"1\\\" b=\\\"2\"", "host=\"h\"",
            "flags=[\"bad_sd\",\"no_timestamp\"]", "format=\"rfc5424\"", "raw=null" } },
        { "sd second element bad", "<13>1 - h a - - [x a=\"1\"][y b=2] msg", 0, NORM_AUTO,
          false, NULL,
          { "sd={\"x\":{\"a\":\"1\"}}", "message=\"[y b=2] msg\"",
            "flags=[\"bad_sd\",\"no_timestamp\"]" } },
        { "sd repeated SD-ID", "<13>1 - h a - - [x a=\"1\"][x b=\"2\"] m", 0, NORM_AUTO, false,
          NULL, { "sd={\"x\":{\"a\":\"1\"}}", "message=\"[x b=\\\"2\\\"] m\"",
                  "flags=[\"bad_sd\",\"no_timestamp\"]" } },
        { "sd no space after", "<13>1 - h a - - [x a=\"1\"]msg", 0, NORM_AUTO, false, NULL,
          { "sd={\"x\":{\"a\":\"1\"}}", "message=\"msg\"", "flags=[\"bad_sd\",\"no_timestamp\"]" } },
        { "sd missing", "<13>1 - h a - - hello world", 0, NORM_AUTO, false, NULL,
          { "sd={}", "message=\"hello world\"", "flags=[\"bad_sd\",\"no_timestamp\"]" } },
        { "sd nil then text", "<13>1 - h a - - -msg", 0, NORM_AUTO, false, NULL,
          { "sd={}", "message=\"-msg\"", "flags=[\"bad_sd\",\"no_timestamp\"]" } },
        { "sd bad id char", "<13>1 - h a - - [x\"y a=\"1\"] m", 0, NORM_AUTO, false, NULL,
          { "sd={}", "message=\"[x\\\"y a=\\\"1\\\"] m\"", "flags=[\"bad_sd\",\"no_timestamp\"]" } },
        { "ends after MSGID", "<13>1 - h a - -", 0, NORM_AUTO, false, NULL,
          { "sd={}", "message=null", "flags=[\"no_timestamp\"]", "msgid=null" } },
        /* NILVALUEs, BOM, MSG */
        { "all nil", "<13>1 - - - - - -", 0, NORM_AUTO, false, "2024-01-02T03:04:05.5Z",
          { "host=null", "app=null", "procid=null", "pid=null", "msgid=null", "message=null",
            "time=\"2024-01-02T03:04:05.500000Z\"", "received=\"2024-01-02T03:04:05.500000Z\"",
            "flags=[\"no_timestamp\"]", "error=null", "facility=\"user\"" } },
        { "empty msg", "<13>1 - - - - - - ", 0, NORM_AUTO, false, NULL,
          { "message=\"\"" } },
        { "bom only", "<13>1 - - - - - - " BOM, 0, NORM_AUTO, false, NULL, { "message=\"\"" } },
        { "bom not at start kept", "<13>1 - - - - - - a" BOM, 0, NORM_AUTO, false, NULL,
          { "message=\"a" BOM "\"" } },
        { "procid text", "<13>1 - h a worker-7 - - x", 0, NORM_AUTO, false, NULL,
          { "pid=null", "procid=\"worker-7\"" } },
        { "pid too long", "<13>1 - h a 1234567890123456789 - - x", 0, NORM_AUTO, false, NULL,
          { "pid=null", "procid=\"1234567890123456789\"" } },
        /* Timestamps */
        { "frac 1 digit", "<13>1 2024-01-01T00:00:00.1Z h a - - -", 0, NORM_AUTO, false, NULL,
          { "time=\"2024-01-01T00:00:00.100000Z\"", "flags=[]" } },
        { "no frac", "<13>1 2024-01-01T00:00:00Z h a - - -", 0, NORM_AUTO, false, NULL,
          { "time=\"2024-01-01T00:00:00.000000Z\"" } },
        { "offset +05:30", "<13>1 2024-03-10T10:00:00.123456+05:30 h a - - -", 0, NORM_AUTO,
          false, NULL, { "time=\"2024-03-10T04:30:00.123456Z\"" } },
        { "offset crosses year", "<13>1 2024-01-01T01:00:00+02:00 h a - - -", 0, NORM_AUTO,
          false, NULL, { "time=\"2023-12-31T23:00:00.000000Z\"" } },
        { "offset -00:00", "<13>1 2024-01-01T01:00:00-00:00 h a - - -", 0, NORM_AUTO, false,
          NULL, { "time=\"2024-01-01T01:00:00.000000Z\"" } },
        { "nanoseconds cut", "<13>1 2024-01-01T00:00:00.123456789Z h a - - -", 0, NORM_AUTO,
          false, NULL, { "time=\"2024-01-01T00:00:00.123456Z\"", "flags=[]" } },
        { "lower-case t z", "<13>1 2024-01-01t00:00:00.5z h a - - -", 0, NORM_AUTO, false,
          NULL, { "time=\"2024-01-01T00:00:00.500000Z\"", "flags=[]" } },
        { "bad month", "<13>1 2024-13-01T00:00:00Z h a - - - m", 0, NORM_AUTO, false, NULL,
          { "time=\"2024-06-15T12:00:00.000000Z\"", "host=\"h\"", "message=\"m\"",
            "flags=[\"bad_timestamp\",\"no_timestamp\"]", "format=\"rfc5424\"" } },
        { "leap second", "<13>1 2016-12-31T23:59:60Z h a - - - m", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_timestamp\",\"no_timestamp\"]" } },
        { "no zone", "<13>1 2024-01-01T00:00:00 h a - - - m", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_timestamp\",\"no_timestamp\"]" } },
        /* RFC 5424 header problems */
        { "5424 header ends early", "<13>1 2024-01-01T00:00:00Z host", 0, NORM_AUTO, false,
          NULL,
          { "format=\"unknown\"", "flags=[\"malformed\",\"no_timestamp\"]", "host=null",
            "message=\"1 2024-01-01T00:00:00Z host\"",
            "raw=\"<13>1 2024-01-01T00:00:00Z host\"", "facility=\"user\"",
            "severity=\"notice\"", "time=\"2024-06-15T12:00:00.000000Z\"" } },
        { "5424 double space", "<13>1  - h a - - - m", 0, NORM_AUTO, false, NULL,
          { "format=\"unknown\"", "flags=[\"malformed\",\"no_timestamp\"]" } },
        { "5424 version 2", "<13>2 - h a - - - m", 0, NORM_AUTO, false, NULL,
          { "format=\"unknown\"", "flags=[\"malformed\",\"no_timestamp\"]",
            "message=\"2 - h a - - - m\"" } },
        { "forced 5424 on 3164", "<13>Oct 11 22:14:15 h su: m", 0, NORM_RFC5424, false, NULL,
          { "format=\"unknown\"", "flags=[\"malformed\",\"no_timestamp\"]",
            "message=\"Oct 11 22:14:15 h su: m\"" } },
        { "forced 5424 no PRI", "1 - h a - - - m", 0, NORM_RFC5424, false, NULL,
          { "format=\"unknown\"", "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]" } },
        { "forced 3164 on 5424", "<13>1 - h a - - - m", 0, NORM_RFC3164, false, NULL,
          { "format=\"unknown\"", "flags=[\"malformed\",\"no_timestamp\"]" } },
        /* RFC 3164 section 5.4 */
        { "3164 ex1", "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on "
                      "/dev/pts/8", 0, NORM_AUTO, false, "2003-10-12T01:00:00Z",
          { "format=\"rfc3164\"", "time=\"2003-10-11T22:14:15.000000Z\"",
            "host=\"mymachine\"", "app=\"su\"", "procid=null", "pid=null", "msgid=null",
            "facility=\"auth\"", "severity=\"crit\"",
            "message=\"'su root' failed for lonvick on /dev/pts/8\"",
            "flags=[\"year_inferred\"]", "error=null", "raw=null", "sd={}" } },
        { "3164 ex2 no PRI", "Use the BFG!", 0, NORM_AUTO, false, NULL,
          { "format=\"unknown\"", "facility=\"user\"", "severity=\"notice\"",
            "message=\"Use the BFG!\"", "raw=\"Use the BFG!\"",
            "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]" } },
        { "3164 ex3 relayed", "<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", 0, NORM_AUTO,
          false, "2024-02-05T17:33:00Z",
          { "time=\"2024-02-05T17:32:18.000000Z\"", "host=\"10.0.0.99\"", "app=null",
            "message=\"Use the BFG!\"", "flags=[\"year_inferred\"]" } },
        { "3164 ex4 CST 1987", "<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's "
                               "time to make the do-nuts.  %%  Ingredients: Mix=OK, Jumble=OK; "
                               "Skip=OK", 0, NORM_AUTO, false, "2024-08-24T05:34:01Z",
          { "host=\"CST\"", "app=null", "time=\"2024-08-24T05:34:00.000000Z\"",
            "message=\"1987 mymachine myproc[10]: %% It's time to make the do-nuts.  %%  "
            "Ingredients: Mix=OK, Jumble=OK; Skip=OK\"",
            "facility=\"local4\"", "severity=\"notice\"" } },
        { "3164 ex5 bad timestamp", "<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org "
                                    "10.1.2.3 sched[0]: That's All Folks!", 0, NORM_AUTO,
          false, NULL,
          { "format=\"unknown\"", "facility=\"kern\"", "severity=\"emerg\"", "host=null",
            "message=\"1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 "
            "sched[0]: That's All Folks!\"",
            "flags=[\"malformed\",\"no_timestamp\"]" } },
        /* RFC 3164 variants */
        { "3164 pid", "<30>Jun 15 10:00:00 web01 sshd[1234]: Accepted publickey", 0,
          NORM_AUTO, false, NULL,
          { "host=\"web01\"", "app=\"sshd\"", "pid=1234", "procid=\"1234\"",
            "facility=\"daemon\"", "severity=\"info\"", "message=\"Accepted publickey\"",
            "time=\"2024-06-15T10:00:00.000000Z\"" } },
        { "3164 day zero-padded", "<13>Dec 01 04:03:12 h t: m", 0, NORM_AUTO, false,
          "2024-12-01T05:00:00Z", { "time=\"2024-12-01T04:03:12.000000Z\"", "app=\"t\"" } },
        { "3164 day unpadded", "<13>Dec 1 04:03:12 h t: m", 0, NORM_AUTO, false,
          "2024-12-01T05:00:00Z", { "time=\"2024-12-01T04:03:12.000000Z\"", "host=\"h\"" } },
        { "3164 month case", "<13>DEC 11 04:03:12 h t: m", 0, NORM_AUTO, false,
          "2024-12-01T05:00:00Z", { "time=\"2024-12-11T04:03:12.000000Z\"" } },
        { "3164 long tag", "<13>Jun 15 10:00:00 h postfix/smtpd-x_y.z.2[99]: m", 0, NORM_AUTO,
          false, NULL, { "app=\"postfix/smtpd-x_y.z.2\"", "pid=99", "message=\"m\"" } },
        { "3164 no host (logger -u)", "<13>Dec  1 04:03:12 tag: msg", 0, NORM_AUTO, false,
          "2024-12-01T05:00:00Z",
          { "host=null", "app=\"tag\"", "message=\"msg\"", "format=\"rfc3164\"" } },
        { "3164 no host pid", "<13>Dec  1 04:03:12 tag[5]: msg", 0, NORM_AUTO, false,
          "2024-12-01T05:00:00Z", { "host=null", "app=\"tag\"", "pid=5", "message=\"msg\"" } },
        { "3164 ipv6 host", "<13>Dec  1 04:03:12 fe80::1 tag: msg", 0, NORM_AUTO, false,
          "2024-12-01T05:00:00Z", { "host=\"fe80::1\"", "app=\"tag\"", "message=\"msg\"" } },
        { "3164 tag empty msg", "<13>Dec  1 04:03:12 h tag:", 0, NORM_AUTO, false,
          "2024-12-01T05:00:00Z", { "app=\"tag\"", "message=\"\"" } },
        { "3164 header only", "<13>Dec  1 04:03:12", 0, NORM_AUTO, false,
          "2024-12-01T05:00:00Z",
          { "host=null", "app=null", "message=null", "format=\"rfc3164\"" } },
        { "3164 rfc3339", "<13>2024-06-15T14:00:00.123456+02:00 host app[1]: msg", 0,
          NORM_AUTO, false, NULL,
          { "time=\"2024-06-15T12:00:00.123456Z\"", "host=\"host\"", "app=\"app\"", "pid=1",
            "flags=[]", "format=\"rfc3164\"" } },
        { "3164 bad rfc3339", "<13>2024-06-35T14:00:00Z host app: msg", 0, NORM_AUTO, false,
          NULL, { "flags=[\"bad_timestamp\",\"no_timestamp\"]", "host=\"host\"" } },
        { "3164 Feb 30", "<13>Feb 30 10:00:00 host app: msg", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_timestamp\",\"no_timestamp\"]", "host=\"host\"", "app=\"app\"",
            "time=\"2024-06-15T12:00:00.000000Z\"", "format=\"rfc3164\"" } },
        { "3164 hour 25", "<13>Feb  3 25:00:00 host app: msg", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_timestamp\",\"no_timestamp\"]" } },
        { "3164 no PRI with header", "Dec  1 04:03:12 host app: msg", 0, NORM_AUTO, false,
          "2024-12-01T05:00:00Z",
          { "flags=[\"bad_pri\",\"year_inferred\"]", "format=\"rfc3164\"",
            "facility=\"user\"", "severity=\"notice\"", "host=\"host\"", "raw=null" } },
        { "3164 frac not accepted", "<13>Dec  1 04:03:12.123 h a: m", 0, NORM_AUTO, false,
          NULL, { "flags=[\"malformed\",\"no_timestamp\"]" } },
        /* Year inference */
        { "Dec 31 received Jan 1", "<13>Dec 31 23:59:59 h a: m", 0, NORM_AUTO, false,
          "2025-01-01T00:00:10Z",
          { "time=\"2024-12-31T23:59:59.000000Z\"", "flags=[\"year_inferred\"]" } },
        { "Jan 1 received Dec 31", "<13>Jan  1 00:00:05 h a: m", 0, NORM_AUTO, false,
          "2024-12-31T23:59:50Z", { "time=\"2025-01-01T00:00:05.000000Z\"" } },
        { "mid-year same year", "<13>Jul  4 12:00:00 h a: m", 0, NORM_AUTO, false,
          "2024-06-15T12:00:00Z", { "time=\"2024-07-04T12:00:00.000000Z\"" } },
        { "Feb 29 received Mar 1", "<13>Feb 29 12:00:00 h a: m", 0, NORM_AUTO, false,
          "2024-03-01T00:00:00Z", { "time=\"2024-02-29T12:00:00.000000Z\"" } },
        { "Feb 29 received Jan 1", "<13>Feb 29 12:00:00 h a: m", 0, NORM_AUTO, false,
          "2025-01-01T00:00:00Z", { "time=\"2024-02-29T12:00:00.000000Z\"" } },
        { "Feb 29 received 2023", "<13>Feb 29 12:00:00 h a: m", 0, NORM_AUTO, false,
          "2023-06-15T00:00:00Z", { "time=\"2024-02-29T12:00:00.000000Z\"" } },
        { "Feb 29 no leap near", "<13>Feb 29 12:00:00 h a: m", 0, NORM_AUTO, false,
          "2098-06-15T00:00:00Z",
          { "flags=[\"bad_timestamp\",\"no_timestamp\"]", "time=\"2098-06-15T00:00:00.000000Z\"" } },
        /* PRI */
        { "PRI 0", "<0>Oct 11 22:14:15 h a: m", 0, NORM_AUTO, false, NULL,
          { "facility=\"kern\"", "severity=\"emerg\"", "flags=[\"year_inferred\"]" } },
        { "PRI 191", "<191>1 - h a - - -", 0, NORM_AUTO, false, NULL,
          { "facility=\"local7\"", "severity=\"debug\"", "flags=[\"no_timestamp\"]" } },
        { "PRI 192", "<192>1 - h a - - - x", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]", "facility=\"user\"",
            "severity=\"notice\"", "message=\"<192>1 - h a - - - x\"", "format=\"unknown\"",
            "raw=\"<192>1 - h a - - - x\"", "host=null" } },
        { "PRI leading zero", "<013>1 - h a - - - x", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]",
            "message=\"<013>1 - h a - - - x\"" } },
        { "PRI <00>", "<00>1 - h a - - - x", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]" } },
        { "PRI non-digit", "<1a>1 - h a - - - x", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]" } },
        { "PRI 4 digits", "<0013>x", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]", "message=\"<0013>x\"" } },
        { "PRI no close", "<13 hello", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]", "message=\"<13 hello\"" } },
        { "PRI empty", "<>x", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]" } },
        { "PRI only", "<13>", 0, NORM_AUTO, false, NULL,
          { "flags=[\"malformed\",\"no_timestamp\"]", "message=\"\"", "raw=\"<13>\"",
            "facility=\"user\"" } },
        { "empty input", "", 0, NORM_AUTO, false, NULL,
          { "flags=[\"bad_pri\",\"malformed\",\"no_timestamp\"]", "message=\"\"",
            "raw=\"\"" } },
        /* UTF-8 */
        { "invalid utf8 msg", "<13>1 - h a - - - caf\xE9 ok", 0, NORM_AUTO, false, NULL,
          { "message=\"caf" FFFD " ok\"", "flags=[\"invalid_utf8\",\"no_timestamp\"]",
            "raw=null", "error=null" } },
        { "invalid utf8 sd", "<13>1 - h a - - [x a=\"\xFF\"] m", 0, NORM_AUTO, false, NULL,
          { "sd.x.a=\"" FFFD "\"", "flags=[\"invalid_utf8\",\"no_timestamp\"]" } },
        { "invalid utf8 host", "<13>1 - h\xC0 a - - - m", 0, NORM_AUTO, false, NULL,
          { "host=\"h" FFFD "\"", "flags=[\"invalid_utf8\",\"no_timestamp\"]" } },
        { "embedded NUL", BYTES("<13>1 - h a - - - a\0b"), NORM_AUTO, false, NULL,
          { "message=\"a" FFFD "b\"", "flags=[\"invalid_utf8\",\"no_timestamp\"]" } },
        { "valid utf8", "<13>1 - h a - - - Grüße 日本", 0, NORM_AUTO, false, NULL,
          { "message=\"Grüße 日本\"", "flags=[\"no_timestamp\"]", "raw_b64=null" } },
        { "malformed invalid", "junk\xFF", 0, NORM_AUTO, false, NULL,
          { "raw=null", "message=\"junk" FFFD "\"",
            "flags=[\"bad_pri\",\"invalid_utf8\",\"malformed\",\"no_timestamp\"]" } },
        /* Trailers and truncation */
        { "strip LF", "<13>1 - h a - - - m\n", 0, NORM_AUTO, false, NULL, { "message=\"m\"" } },
        { "strip CRLF", "<13>1 - h a - - - m\r\n", 0, NORM_AUTO, false, NULL,
          { "message=\"m\"" } },
        { "strip one LF only", "<13>1 - h a - - - m\n\n", 0, NORM_AUTO, false, NULL,
          { "message=\"m\\n\"" } },
        { "strip NULs", BYTES("<13>1 - h a - - - ab\0\0"), NORM_AUTO, false, NULL,
          { "message=\"ab\"", "flags=[\"no_timestamp\"]", "raw_b64=null" } },
        { "malformed keeps LF in raw", "junk\n", 0, NORM_AUTO, false, NULL,
          { "raw=\"junk\\n\"", "message=\"junk\"" } },
        { "truncated", "<13>1 - h a - - - abc", 0, NORM_AUTO, true, NULL,
          { "message=\"abc\"", "flags=[\"no_timestamp\",\"truncated\"]", "error=null" } },
        { "truncated mid utf8", "<13>1 - h a - - - caf\xC3", 0, NORM_AUTO, true, NULL,
          { "message=\"caf\"", "flags=[\"no_timestamp\",\"truncated\"]", "raw_b64=null" } },
        { "cut utf8 not truncated", "<13>1 - h a - - - caf\xC3", 0, NORM_AUTO, false, NULL,
          { "message=\"caf" FFFD "\"", "flags=[\"invalid_utf8\",\"no_timestamp\"]" } },
        { "truncated sd", "<13>1 - h a - - [x a=\"12", 0, NORM_AUTO, true, NULL,
          { "flags=[\"bad_sd\",\"no_timestamp\",\"truncated\"]" } },
};

/* ---- independent references ---- */

static void sha256_hex(const void *p, size_t n, char out[65])
{
        unsigned char md[32];
        unsigned int mdlen = 0;

        assert_int_equal(EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL), 1);
        for (int i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", md[i]);
}

static int b64val(char c)
{
        const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *p = c ? strchr(t, c) : NULL;

        return p ? (int)(p - t) : -1;
}

/* Decodes padded base64; returns the length or -1. */
static long b64_decode(const char *s, unsigned char *out)
{
        size_t n = strlen(s), o = 0;

        if (n % 4)
                return -1;
        for (size_t i = 0; i < n; i += 4) {
                int a = b64val(s[i]), b = b64val(s[i + 1]);
                int c = s[i + 2] == '=' ? 0 : b64val(s[i + 2]);
                int d = s[i + 3] == '=' ? 0 : b64val(s[i + 3]);

                if (a < 0 || b < 0 || c < 0 || d < 0)
                        return -1;
                out[o++] = (unsigned char)(a << 2 | b >> 4);
                if (s[i + 2] != '=')
                        out[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
                if (s[i + 3] != '=')
                        out[o++] = (unsigned char)((c & 3) << 6 | d);
        }
        return (long)o;
}

/* ---- invariants ---- */

static bool has_flag(const json *flags, const char *f)
{
        for (size_t i = 0; i < json_len(flags); i++)
                if (strcmp(json_str(json_arr_at(flags, i), NULL), f) == 0)
                        return true;
        return false;
}

/* Every record, whatever the input. Returns a reason or NULL. */
static const char *check_invariants(const json *rec, const char *in, size_t len,
                                    int64_t received_us)
{
        static const char *const known[] = { "bad_pri", "bad_sd", "bad_timestamp",
                                             "invalid_utf8", "malformed", "no_timestamp",
                                             "truncated", "year_inferred" };
        char hex[65], rcv[TM_RFC3339_LEN];
        const json *flags = json_obj_get(rec, "flags"), *b64 = json_obj_get(rec, "raw_b64");
        const char *prev = "";
        bool want_error = false;
        struct buf out = BUF_INIT;
        json *back = NULL;

        if (json_type_of(rec) != JSON_OBJ || json_len(rec) != sizeof(members) / sizeof(*members))
                return "wrong member count";
        for (size_t i = 0; i < sizeof(members) / sizeof(*members); i++)
                if (!json_obj_get(rec, members[i]))
                        return "a member is missing";
        sha256_hex(in, len, hex);
        if (!json_str(json_obj_get(rec, "raw_sha256"), NULL) ||
            strcmp(json_str(json_obj_get(rec, "raw_sha256"), NULL), hex) != 0)
                return "raw_sha256 differs from SHA-256 of the input";
        if (json_type_of(flags) != JSON_ARR)
                return "flags not an array";
        for (size_t i = 0; i < json_len(flags); i++) {
                const char *f = json_str(json_arr_at(flags, i), NULL);
                bool ok = false;

                if (!f || strcmp(prev, f) >= 0)
                        return "flags not strictly sorted strings";
                for (size_t k = 0; k < sizeof(known) / sizeof(*known); k++)
                        ok |= strcmp(f, known[k]) == 0;
                if (!ok)
                        return "unknown flag";
                want_error |= strcmp(f, "malformed") == 0 || strncmp(f, "bad_", 4) == 0;
                prev = f;
        }
        if (want_error != (json_type_of(json_obj_get(rec, "error")) == JSON_STR))
                return "error set iff malformed or bad_*";
        if (has_flag(flags, "invalid_utf8") != (json_type_of(b64) == JSON_STR))
                return "raw_b64 set iff invalid_utf8";
        if (json_type_of(b64) == JSON_STR) {
                unsigned char *dec = malloc(strlen(json_str(b64, NULL)) + 1);
                long dn = b64_decode(json_str(b64, NULL), dec);
                bool same = dn == (long)len && memcmp(dec, in, len) == 0;

                free(dec);
                if (!same)
                        return "raw_b64 does not decode to the input";
        }
        if (json_type_of(json_obj_get(rec, "raw")) == JSON_STR &&
            (!has_flag(flags, "malformed") || has_flag(flags, "invalid_utf8")))
                return "raw set on a record that is not malformed or not valid UTF-8";
        if (has_flag(flags, "malformed") && !has_flag(flags, "invalid_utf8") &&
            json_type_of(json_obj_get(rec, "raw")) != JSON_STR)
                return "malformed record without raw";
        tm_format_rfc3339(received_us, rcv);
        if (strcmp(json_str(json_obj_get(rec, "received"), NULL), rcv) != 0)
                return "received differs";
        if (has_flag(flags, "no_timestamp") &&
            strcmp(json_str(json_obj_get(rec, "time"), NULL), rcv) != 0)
                return "no_timestamp but time is not received";
        if (json_type_of(json_obj_get(rec, "sd")) != JSON_OBJ ||
            json_type_of(json_obj_get(rec, "criteria")) != JSON_ARR)
                return "sd or criteria of the wrong type";
        if (json_canon(rec, &out) < 0 || json_parse(out.data, out.len, &back, NULL) < 0) {
                buf_free(&out);
                return "canonical form does not parse back";
        }
        json_free(back);
        buf_free(&out);
        return NULL;
}

/* ---- table ---- */

static const struct norm_source src_stdin = { "syslog", "stdin", NULL };

static int64_t parse_time(const char *s)
{
        int64_t us = 0;

        assert_int_equal(tm_parse_rfc3339(s, strlen(s), 0, &us), 0);
        return us;
}

static int check_expect(const char *name, const json *rec, const char *exp)
{
        const char *eq = strchr(exp, '=');
        char path[128];
        struct buf got = BUF_INIT;
        const json *v;
        int bad = 0;

        assert_non_null(eq);
        assert_true((size_t)(eq - exp) < sizeof(path));
        memcpy(path, exp, (size_t)(eq - exp));
        path[eq - exp] = '\0';
        v = json_path_get(rec, path);
        if (!v) {
                print_error("case \"%s\": %s missing\n", name, path);
                return 1;
        }
        assert_int_equal(json_canon(v, &got), 0);
        if (strcmp(got.data, eq + 1) != 0) {
                print_error("case \"%s\": %s = %s, want %s\n", name, path, got.data, eq + 1);
                bad = 1;
        }
        buf_free(&got);
        return bad;
}

static void test_table(void **state)
{
        int failures = 0;

        (void)state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct tcase *c = &cases[i];
                size_t len = c->len ? c->len : strlen(c->in);
                int64_t rcv = parse_time(c->received ? c->received : RCV_DEFAULT);
                const char *why;
                json *rec = NULL;

                assert_int_equal(normalize_syslog(c->in, len, c->truncated, &src_stdin, rcv,
                                                  c->fmt, &rec), 0);
                why = check_invariants(rec, c->in, len, rcv);
                if (why) {
                        print_error("case \"%s\": %s\n", c->name, why);
                        failures++;
                }
                for (size_t k = 0; k < 20 && c->expect[k]; k++)
                        failures += check_expect(c->name, rec, c->expect[k]);
                json_free(rec);
        }
        assert_int_equal(failures, 0);
}

static void test_source(void **state)
{
        static const struct norm_source udp = { "syslog", "udp", "127.0.0.1:40000" };
        struct buf b = BUF_INIT;
        json *rec = NULL;

        (void)state;
        assert_int_equal(normalize_syslog("<13>1 - - - - - -", 17, false, &udp, 0, NORM_AUTO,
                                          &rec), 0);
        assert_int_equal(json_canon(json_obj_get(rec, "source"), &b), 0);
        assert_string_equal(b.data,
                            "{\"kind\":\"syslog\",\"peer\":\"127.0.0.1:40000\",\"transport\":\"udp\"}");
        json_free(rec);
        buf_reset(&b);
        assert_int_equal(normalize_syslog(NULL, 0, false, NULL, 0, NORM_AUTO, &rec), 0);
        assert_int_equal(json_canon(json_obj_get(rec, "source"), &b), 0);
        assert_string_equal(b.data, "{\"kind\":\"syslog\",\"peer\":null,\"transport\":null}");
        assert_null(check_invariants(rec, "", 0, 0));
        json_free(rec);
        buf_free(&b);
}

static void test_names(void **state)
{
        enum norm_format f = NORM_RFC3164;

        (void)state;
        assert_string_equal(norm_facility_name(0), "kern");
        assert_string_equal(norm_facility_name(10), "authpriv");
        assert_string_equal(norm_facility_name(15), "solaris-cron");
        assert_string_equal(norm_facility_name(23), "local7");
        assert_null(norm_facility_name(24));
        assert_null(norm_facility_name(-1));
        assert_string_equal(norm_severity_name(0), "emerg");
        assert_string_equal(norm_severity_name(4), "warning");
        assert_string_equal(norm_severity_name(7), "debug");
        assert_null(norm_severity_name(8));
        assert_int_equal(norm_format_parse("auto", &f), 0);
        assert_int_equal(f, NORM_AUTO);
        assert_int_equal(norm_format_parse("rfc5424", &f), 0);
        assert_int_equal(f, NORM_RFC5424);
        assert_int_equal(norm_format_parse("rfc3164", &f), 0);
        assert_int_equal(f, NORM_RFC3164);
        assert_int_equal(norm_format_parse("RFC5424", &f), -EINVAL);
        assert_int_equal(norm_format_parse(NULL, &f), -EINVAL);
        assert_int_equal(f, NORM_RFC3164); /* untouched on failure */
}

/* RFC 4648 section 10 test vectors. */
static void test_base64(void **state)
{
        static const char *const v[][2] = { { "", "" },         { "f", "Zg==" },
                                            { "fo", "Zm8=" },   { "foo", "Zm9v" },
                                            { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
                                            { "foobar", "Zm9vYmFy" } };
        char *s;

        (void)state;
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                s = norm_base64(v[i][0], strlen(v[i][0]));
                assert_non_null(s);
                assert_string_equal(s, v[i][1]);
                free(s);
        }
        s = norm_base64("\xFF\xFE\x00", 3);
        assert_string_equal(s, "//4A");
        free(s);
}

/* ---- random and mutated input ---- */

static size_t random_message(uint64_t *rng, unsigned char *out, size_t cap)
{
        static const char alphabet[] = "<>[]\"\\= -:.0123456789TZ+abcAD\n\r";
        size_t n;

        if (test_rng_next_star(rng) % 2) {
                const struct tcase *c =
                        &cases[test_rng_next_star(rng) % (sizeof(cases) / sizeof(*cases))];
                size_t muts = 1 + test_rng_next_star(rng) % 4;

                n = c->len ? c->len : strlen(c->in);
                memcpy(out, c->in, n);
                for (size_t k = 0; k < muts && n > 0; k++) {
                        size_t at = test_rng_next_star(rng) % n;

                        switch (test_rng_next_star(rng) % 4) {
                        case 0: out[at] = (unsigned char)test_rng_next_star(rng); break;
                        case 1:
                                out[at] = (unsigned char)
                                        alphabet[test_rng_next_star(rng) % (sizeof(alphabet) - 1)];
                                break;
                        case 2: n = at; break;
                        default:
                                if (n < cap) {
                                        memmove(out + at + 1, out + at, n - at);
                                        out[at] = (unsigned char)alphabet[
                                                test_rng_next_star(rng) % (sizeof(alphabet) - 1)];
                                        n++;
                                }
                        }
                }
                return n;
        }
        n = test_rng_next_star(rng) % 300;
        for (size_t i = 0; i < n; i++) {
                uint64_t r = test_rng_next_star(rng);

                out[i] = r % 3 ? (unsigned char)alphabet[(r >> 8) % (sizeof(alphabet) - 1)]
                               : (unsigned char)(r >> 16);
        }
        if (n > 4 && test_rng_next_star(rng) % 2)
                memcpy(out, "<13>", 4);
        return n;
}

static void test_random(void **state)
{
        uint64_t rng = UINT64_C(0x9E3779B97F4A7C15);
        unsigned char in[1024];
        int failures = 0;

        (void)state;
        for (int i = 0; i < 10000; i++) {
                size_t n = random_message(&rng, in, sizeof(in));
                int64_t rcv =
                        (int64_t)(test_rng_next_star(&rng) % (UINT64_C(4102444800) * 1000000));
                enum norm_format fmt = (enum norm_format)(test_rng_next_star(&rng) % 3);
                bool trunc = test_rng_next_star(&rng) % 8 == 0;
                const char *why;
                json *rec = NULL;

                assert_int_equal(normalize_syslog((const char *)in, n, trunc, &src_stdin, rcv,
                                                  fmt, &rec), 0);
                why = check_invariants(rec, (const char *)in, n, rcv);
                if (why && failures++ < 10)
                        print_error("random input %d (%zu bytes): %s\n", i, n, why);
                json_free(rec);
        }
        assert_int_equal(failures, 0);
}

/* The record builder appends its members from a static table without sorting or checking
 * (json_obj_fill_sorted, issue 12): the table must be in RFC 8785 order, the record's
 * members must be the table's in that order, and its canonical bytes must equal those of
 * the same members set one by one in reverse order (the general path, which sorts). */
static void test_record_order(void **state)
{
        uint64_t rng = UINT64_C(0x243F6A8885A308D3);
        unsigned char in[1024];
        size_t n_keys;
        const struct json_key *keys = norm_record_keys(&n_keys);

        (void)state;
        assert_int_equal(n_keys, 24);
        assert_true(json_keys_sorted(keys, n_keys));
        for (int i = 0; i < 2000; i++) {
                size_t n = random_message(&rng, in, sizeof(in));
                json *rec = NULL, *model = json_new_obj();
                struct buf a = BUF_INIT, b = BUF_INIT;

                assert_int_equal(normalize_syslog((const char *)in, n, i % 7 == 0, &src_stdin,
                                                  1718452800000000, NORM_AUTO, &rec), 0);
                assert_int_equal(json_len(rec), n_keys);
                for (size_t k = n_keys; k-- > 0;) {
                        const char *key;
                        size_t key_len;
                        json *v = json_obj_at(rec, k, &key, &key_len);

                        assert_int_equal(key_len, keys[k].len);
                        assert_memory_equal(key, keys[k].key, key_len);
                        assert_int_equal(json_obj_set(model, key, json_clone(v)), 0);
                }
                assert_int_equal(json_canon(rec, &a), 0);
                assert_int_equal(json_canon(model, &b), 0);
                assert_int_equal(a.len, b.len);
                assert_memory_equal(a.data, b.data, a.len);
                buf_free(&a);
                buf_free(&b);
                json_free(model);
                json_free(rec);
        }
}

/* The RFC 5424 TIMESTAMP reader as it was before it parsed common timestamps in place
 * (issue 12): copy, upper-case 't'/'z', drop fraction digits past the sixth, then parse.
 * The model for test_rfc3339_model. */
static int model_rfc3339(const char *s, size_t n, int64_t *ret_us)
{
        char t[64];
        size_t o = 0, frac = 0;
        bool in_frac = false;

        if (n >= 64)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (c == 't' || c == 'z')
                        c = (char)(c - 'a' + 'A');
                if (in_frac && c >= '0' && c <= '9') {
                        if (++frac > 6)
                                continue;
                } else {
                        in_frac = c == '.' && o == 19;
                }
                t[o++] = c;
        }
        return tm_parse_rfc3339(t, o, 0, ret_us);
}

/* syslog_parse_rfc3339 against the model on timestamps of every shape the senders use and
 * mangled ones: lower-case t/z anywhere, 0 to 12 fraction digits, offsets, cut and
 * overlong text. */
static void test_rfc3339_model(void **state)
{
        static const char *const seps[] = { "T", "t", " ", "z" };
        static const char *const zones[] = { "Z", "z", "+02:00", "-11:30", "", "+2:00", "Zz",
                                             "t" };
        uint64_t rng = 12;

        (void)state;
        for (int i = 0; i < 20000; i++) {
                char ts[96];
                int nd = (int)(test_rng_next_star(&rng) % 13), len;
                int64_t a = 0, b = 0;
                int ra, rb;

                len = snprintf(ts, sizeof(ts), "20%02u-%02u-%02u%s%02u:%02u:%02u",
                               (unsigned)(test_rng_next_star(&rng) % 100),
                               (unsigned)(test_rng_next_star(&rng) % 14),
                               (unsigned)(test_rng_next_star(&rng) % 32),
                               seps[test_rng_next_star(&rng) % 4],
                               (unsigned)(test_rng_next_star(&rng) % 25),
                               (unsigned)(test_rng_next_star(&rng) % 61),
                               (unsigned)(test_rng_next_star(&rng) % 61));
                if (nd || test_rng_next_star(&rng) % 8 == 0)
                        ts[len++] = '.';
                for (int k = 0; k < nd; k++)
                        ts[len++] = (char)('0' + test_rng_next_star(&rng) % 10);
                len += snprintf(ts + len, sizeof(ts) - (size_t)len, "%s",
                                zones[test_rng_next_star(&rng) % 8]);
                if (test_rng_next_star(&rng) % 8 == 0) /* one byte changed anywhere */
                        ts[test_rng_next_star(&rng) % (uint64_t)len] =
                                "tzTZ.:9x"[test_rng_next_star(&rng) % 8];
                if (test_rng_next_star(&rng) % 8 == 0) /* cut */
                        len = (int)(test_rng_next_star(&rng) % (uint64_t)(len + 1));
                ra = syslog_parse_rfc3339(ts, (size_t)len, &a);
                rb = model_rfc3339(ts, (size_t)len, &b);
                if (ra != rb || (ra == 0 && a != b))
                        fail_msg("'%.*s': %d %lld, model %d %lld", len, ts, ra, (long long)a,
                                 rb, (long long)b);
        }
        /* loop10 (issue 12: the timestamp read by 8-byte words): every year 0000-9999 and
         * leap days, fraction runs of 0 to 50 digits (the TS_MAX cut at 64 bytes), and one
         * or two bytes anywhere replaced by a byte of any value (a non-digit next to a
         * digit, a byte whose +6 carries into the next). */
        for (int i = 0; i < 200000; i++) {
                char ts[128];
                uint64_t r = test_rng_next_star(&rng);
                int nd = (int)(r % 4 == 0 ? test_rng_next_star(&rng) % 51 : r % 8), len;
                unsigned mo = (unsigned)(r >> 8) % 16 == 0 ? 2 : 1 + (unsigned)(r >> 12) % 12;
                char *exact;
                int64_t a = 0, b = 0;
                int ra, rb;

                len = snprintf(ts, sizeof(ts), "%04u-%02u-%02uT%02u:%02u:%02u",
                               (unsigned)(test_rng_next_star(&rng) % 10000), mo,
                               1 + (unsigned)(test_rng_next_star(&rng) % 31),
                               (unsigned)(test_rng_next_star(&rng) % 24),
                               (unsigned)(test_rng_next_star(&rng) % 60),
                               (unsigned)(test_rng_next_star(&rng) % 60));
                if (nd || test_rng_next_star(&rng) % 16 == 0)
                        ts[len++] = '.';
                for (int k = 0; k < nd; k++)
                        ts[len++] = (char)('0' + test_rng_next_star(&rng) % 10);
                len += snprintf(ts + len, sizeof(ts) - (size_t)len, "%s",
                                zones[test_rng_next_star(&rng) % 8]);
                for (int k = (int)(test_rng_next_star(&rng) % 3); k > 0 && len > 0; k--)
                        ts[test_rng_next_star(&rng) % (uint64_t)len] =
                                (char)(test_rng_next_star(&rng) >> 24);
                /* In a block of exactly len bytes: ASan sees any read past the end. */
                exact = malloc(len > 0 ? (size_t)len : 1);
                assert_non_null(exact);
                memcpy(exact, ts, (size_t)len);
                ra = syslog_parse_rfc3339(exact, (size_t)len, &a);
                free(exact);
                rb = model_rfc3339(ts, (size_t)len, &b);
                if (ra != rb || (ra == 0 && a != b))
                        fail_msg("'%.*s': %d %lld, model %d %lld", len, ts, ra, (long long)a,
                                 rb, (long long)b);
        }
}

/* x and y have the same canonical bytes (a and b are the caller's, reset here). */
static void expect_same_canon(const json *x, const json *y, struct buf *a, struct buf *b)
{
        buf_reset(a);
        buf_reset(b);
        assert_int_equal(json_canon(x, a), 0);
        assert_int_equal(json_canon(y, b), 0);
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->data, b->data, a->len);
}

/* One record, built by normalize_syslog and by normalize_syslog_recycled; then grown as the
 * rules grow it (past the recycled block). Both must serialise to the same bytes. */
static void expect_same_record(struct recycle *const *rc, const char *in, size_t n,
                               bool trunc, int64_t rcv, enum norm_format fmt)
{
        struct buf a = BUF_INIT, b = BUF_INIT;
        json *x = NULL, *y = NULL;
        char big[600];

        memset(big, 'v', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(normalize_syslog(in, n, trunc, &src_stdin, rcv, fmt, &x), 0);
        assert_int_equal(normalize_syslog_recycled(rc, 2, in, n, trunc, &src_stdin, rcv, fmt,
                                                   &y), 0);
        expect_same_canon(x, y, &a, &b);
        for (int i = 0; i < 8; i++) {
                assert_int_equal(json_path_set(x, "actor.name", json_new_str(big)), 0);
                assert_int_equal(json_path_set(y, "actor.name", json_new_str(big)), 0);
                assert_int_equal(json_obj_set_str(x, "rule", big + i), 0);
                assert_int_equal(json_obj_set_str(y, "rule", big + i), 0);
        }
        expect_same_canon(x, y, &a, &b);
        json_free(x);
        json_free(y);
        buf_free(&a);
        buf_free(&b);
}

/* Records in recycled blocks (performance, issue 12) are the same records: every table
 * case and random messages of every length to 1 KiB (small block, large block, malloc). */
static void test_recycled(void **state)
{
        uint64_t rng = UINT64_C(0x2545F4914F6CDD1D);
        struct recycle *rc[2];
        unsigned char in[1024];

        (void)state;
        assert_int_equal(recycle_new(2560, 16, &rc[0]), 0);
        assert_int_equal(recycle_new(3584, 16, &rc[1]), 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct tcase *c = &cases[i];

                expect_same_record(rc, c->in, c->len ? c->len : strlen(c->in), c->truncated,
                                   parse_time(c->received ? c->received : RCV_DEFAULT),
                                   c->fmt);
        }
        for (int i = 0; i < 3000; i++) {
                size_t n = random_message(&rng, in, sizeof(in));
                int64_t rcv =
                        (int64_t)(test_rng_next_star(&rng) % (UINT64_C(4102444800) * 1000000));

                expect_same_record(rc, (const char *)in, n, test_rng_next_star(&rng) % 8 == 0, rcv,
                                   (enum norm_format)(test_rng_next_star(&rng) % 3));
        }
        recycle_release(rc[0]);
        recycle_release(rc[1]);
}

/* One record through normalize_syslog, one through normalize_syslog_recycled_tt with the
 * receipt time's text kept in *tt: the same canonical bytes. */
static void expect_same_with_tt(struct recycle *const *rc, struct norm_time_text *tt,
                                const char *in, size_t n, bool trunc, int64_t rcv,
                                enum norm_format fmt)
{
        struct buf a = BUF_INIT, b = BUF_INIT;
        json *x = NULL, *y = NULL;

        assert_int_equal(normalize_syslog(in, n, trunc, &src_stdin, rcv, fmt, &x), 0);
        assert_int_equal(normalize_syslog_recycled_tt(rc, 2, tt, in, n, trunc, &src_stdin, rcv,
                                                      fmt, &y), 0);
        expect_same_canon(x, y, &a, &b);
        json_free(x);
        json_free(y);
        buf_free(&a);
        buf_free(&b);
}

/* The kept receipt-time text (performance, issue 12: the frames of one read share their
 * receipt time) gives the same records: every table case and random messages, with the
 * receipt time repeated (the text reused, also for "time" of records without a timestamp)
 * and changed (formatted again, also back to an earlier value), through one kept text. */
static void test_received_text(void **state)
{
        uint64_t rng = UINT64_C(0x9E3779B97F4A7C15);
        struct norm_time_text tt = { 0 };
        struct recycle *rc[2];
        unsigned char in[512];
        int64_t rcv = parse_time(RCV_DEFAULT);

        (void)state;
        assert_int_equal(recycle_new(2560, 16, &rc[0]), 0);
        assert_int_equal(recycle_new(3584, 16, &rc[1]), 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct tcase *c = &cases[i];
                int64_t r = parse_time(c->received ? c->received : RCV_DEFAULT);

                for (int k = 0; k < 2; k++)
                        expect_same_with_tt(rc, &tt, c->in, c->len ? c->len : strlen(c->in),
                                            c->truncated, r, c->fmt);
        }
        for (int i = 0; i < 3000; i++) {
                size_t n = random_message(&rng, in, sizeof(in));

                switch (test_rng_next_star(&rng) % 4) {
                case 0: /* a new read */
                        rcv = (int64_t)(test_rng_next_star(&rng) %
                                        (UINT64_C(4102444800) * 1000000));
                        break;
                case 1: /* back to the default */
                        rcv = parse_time(RCV_DEFAULT);
                        break;
                default: /* more frames of the same read */
                        break;
                }
                expect_same_with_tt(rc, &tt, (const char *)in, n,
                                    test_rng_next_star(&rng) % 8 == 0, rcv,
                                    (enum norm_format)(test_rng_next_star(&rng) % 3));
        }
        /* A record without a timestamp: "time" is the receipt time, from the kept text. */
        expect_same_with_tt(rc, &tt, "<13>1 - h a - - - m", 19, false, rcv, NORM_AUTO);
        expect_same_with_tt(rc, &tt, "<13>1 - h a - - - m", 19, false, rcv + 1, NORM_AUTO);
        recycle_release(rc[0]);
        recycle_release(rc[1]);
}

/* loop10 (issue 12: ASCII text checked 16 bytes at a time before the UTF-8 check): the
 * record's invalid_utf8 flag against json_utf8_valid as the model, on messages of every
 * length to 80 with a NUL, a high byte, a bad sequence or a good multi-byte one at every
 * place; and a source whose strings are not valid UTF-8 is repaired as before
 * (json_new_str_lossy_in as the model). */
static void test_ascii_model(void **state)
{
        static const char *const odd[] = { "", "\x00", "\x80", "\xff", "\xc3\xa9",
                                           "\xe6\x97\xa5", "\xc3", "\x7f", "\x01" };
        struct buf b = BUF_INIT;
        uint64_t rng = 77;

        (void)state;
        for (size_t n = 0; n <= 80; n++) {
                for (size_t at = 0; at <= n; at++) {
                        for (size_t o = 0; o < sizeof(odd) / sizeof(odd[0]); o++) {
                                char in[128];
                                size_t len = 18, ol = strlen(odd[o]) + (o == 1);
                                json *rec = NULL;
                                bool flagged;

                                memcpy(in, "<13>1 - h a - - - ", len);
                                for (size_t k = 0; k < n; k++)
                                        in[len++] = (char)(' ' + test_rng_next_star(&rng) % 95);
                                memmove(in + 18 + at + ol, in + 18 + at, n - at);
                                memcpy(in + 18 + at, o == 1 ? "" : odd[o], ol);
                                len += ol;
                                if (in[len - 1] == '\0' || in[len - 1] == '\n' ||
                                    in[len - 1] == '\r')
                                        in[len++] = 'x'; /* not a framing left-over */
                                assert_int_equal(normalize_syslog(in, len, false, &src_stdin, 0,
                                                                  NORM_AUTO, &rec), 0);
                                buf_reset(&b);
                                assert_int_equal(json_canon(json_obj_get(rec, "flags"), &b), 0);
                                flagged = strstr(b.data, "invalid_utf8") != NULL;
                                if (flagged != !json_utf8_valid(in, len))
                                        fail_msg("n %zu at %zu odd %zu: flagged %d", n, at, o,
                                                 flagged);
                                json_free(rec);
                        }
                }
        }
        for (size_t n = 0; n <= 40; n++) {
                for (size_t at = 0; at < n; at++) {
                        for (size_t o = 2; o < sizeof(odd) / sizeof(odd[0]); o++) {
                                char peer[64];
                                struct norm_source src = { "syslog", "tcp", peer };
                                json *rec = NULL, *model = json_new_obj();
                                struct buf m = BUF_INIT;
                                size_t ol = strlen(odd[o]);

                                for (size_t k = 0; k < n; k++)
                                        peer[k] = (char)('!' + test_rng_next_star(&rng) % 94);
                                memcpy(peer + at, odd[o], ol);
                                peer[at + ol > n ? at + ol : n] = '\0';
                                assert_int_equal(normalize_syslog("<13>1 - h a - - - m", 19, false,
                                                                  &src, 0, NORM_AUTO, &rec), 0);
                                buf_reset(&b);
                                assert_int_equal(json_canon(json_path_get(rec, "source.peer"), &b),
                                                 0);
                                assert_int_equal(json_canon(json_new_str_lossy_in(model, peer,
                                                                                  strlen(peer),
                                                                                  NULL), &m), 0);
                                assert_string_equal(b.data, m.data);
                                json_free(rec);
                                json_free(model);
                                buf_free(&m);
                        }
                }
        }
        buf_free(&b);
}

/* loop10 (issue 12: the date of "time" and "received" kept per day in the collector's
 * norm_time_text): records with header times and receipt times that stay on a day, move
 * over midnight, jump years and come back, through one kept text, against
 * normalize_syslog. */
static void test_time_text_days(void **state)
{
        const int64_t sec = 1000000, day = 86400 * sec;
        struct norm_time_text tt = { 0 };
        struct recycle *rc[2];
        uint64_t rng = 5;
        int64_t hdr = parse_time("2024-02-28T23:59:58Z"), rcv = hdr;

        (void)state;
        assert_int_equal(recycle_new(2560, 16, &rc[0]), 0);
        assert_int_equal(recycle_new(3584, 16, &rc[1]), 0);
        for (int i = 0; i < 20000; i++) {
                uint64_t r = test_rng_next_star(&rng);
                char in[128], ts[TM_RFC3339_LEN];
                int n;

                switch (r % 8) {
                case 0: hdr += day * (int64_t)((r >> 8) % 800) - 400 * day; break;
                case 1: rcv = hdr + (int64_t)((r >> 8) % (uint64_t)(2 * day)) - day; break;
                default:
                        hdr += (int64_t)((r >> 8) % (uint64_t)(4 * sec)) - sec;
                        rcv += (int64_t)((r >> 16) % (uint64_t)(3 * sec));
                }
                tm_format_rfc3339(hdr, ts);
                n = snprintf(in, sizeof(in), "<13>1 %s h a - - - m %d", r % 16 ? ts : "-", i);
                expect_same_with_tt(rc, &tt, in, (size_t)n, false, rcv, NORM_AUTO);
        }
        recycle_release(rc[0]);
        recycle_release(rc[1]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_table),  cmocka_unit_test(test_source),
                cmocka_unit_test(test_names),  cmocka_unit_test(test_base64),
                cmocka_unit_test(test_random), cmocka_unit_test(test_recycled),
                cmocka_unit_test(test_rfc3339_model), cmocka_unit_test(test_received_text),
                cmocka_unit_test(test_record_order), cmocka_unit_test(test_ascii_model),
                cmocka_unit_test(test_time_text_days),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
