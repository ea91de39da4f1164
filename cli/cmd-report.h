/* gatelog report (issue 10): the evidence report is built once as a JSON tree
 * (cli/cmd-report.c) and printed either as that JSON or as self-contained HTML
 * (cli/cmd-report-html.c), so both forms hold the same numbers. */
#pragma once
#include "core/buf.h"
#include "core/json.h"

/* Appends the HTML page of a report tree. Returns 0 or -ENOMEM. */
int report_html(const json *rep, struct buf *out);
