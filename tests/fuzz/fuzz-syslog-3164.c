/* RFC 3164 parser target: see fuzz-syslog.h. */
#define FUZZ_FORMAT NORM_RFC3164
#include "tests/fuzz/fuzz-syslog.h"
