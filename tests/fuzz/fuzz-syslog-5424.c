/* RFC 5424 parser target: see fuzz-syslog.h. */
#define FUZZ_FORMAT NORM_RFC5424
#include "tests/fuzz/fuzz-syslog.h"
