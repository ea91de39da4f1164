/* gatelog --version: the release, the commit and the linked libraries' own version strings
 * (run-time values: a distribution update of a shared library shows here). libcurl and
 * libmicrohttpd are loaded on first use (core/dl.h): this command loads them to ask, and says
 * so when one cannot be loaded. */
#include "cli/version.h"

#include <stdbool.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>
#include <pcre2.h>
#include <sodium.h>
#include <sqlite3.h>
#include <yaml.h>
#include <zstd.h>

#include "cli/mhd-dl.h"
#include "cli/version-commit.h"
#include "outputs/curl-dl.h"

const char *version_commit(void) {
        return GATELOG_COMMIT;
}

void version_print(FILE *f) {
        struct mhd_dl m = {0};
        struct curl_dl cu = {0};
        char merr[256], cerr[256];
        bool have_mhd = mhd_dl_open(&m, merr, sizeof(merr)) >= 0;
        bool have_curl = curl_dl_open(&cu, cerr, sizeof(cerr)) >= 0;

        fprintf(f, "gatelog %s (commit %s)\n", GATELOG_VERSION, GATELOG_COMMIT);
        fprintf(f, "linked: libsodium %s, SQLite %s, %s, libyaml %s, libmicrohttpd %s\n",
                sodium_version_string(), sqlite3_libversion(), OpenSSL_version(OPENSSL_VERSION),
                yaml_get_version_string(), have_mhd ? m.get_version() : "missing");
        char pcre[64] = "";
        (void)pcre2_config(PCRE2_CONFIG_VERSION, pcre);
        fprintf(f, "linked: libcurl %s, librdkafka %s, PCRE2 %s, zstd %s\n",
                have_curl ? cu.version_info(CURLVERSION_NOW)->version : "missing",
                rd_kafka_version_str(), pcre, ZSTD_versionString());
        if (!have_mhd)
                fprintf(f, "%s\n", merr);
        if (!have_curl)
                fprintf(f, "%s\n", cerr);
        mhd_dl_close(&m);
        curl_dl_close(&cu);
}
