/* gatelog --version: the release, the commit and the linked libraries' own version strings
 * (run-time values: a distribution update of a shared library shows here). */
#include "cli/version.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <pcre2.h>
#include <sodium.h>
#include <sqlite3.h>
#include <yaml.h>
#include <zstd.h>

#include "cli/version-commit.h"

const char *version_commit(void) {
        return GATELOG_COMMIT;
}

void version_print(FILE *f) {
        fprintf(f, "gatelog %s (commit %s)\n", GATELOG_VERSION, GATELOG_COMMIT);
        fprintf(f, "linked: libsodium %s, SQLite %s, %s, libyaml %s, libmicrohttpd %s\n",
                sodium_version_string(), sqlite3_libversion(), OpenSSL_version(OPENSSL_VERSION),
                yaml_get_version_string(), MHD_get_version());
        char pcre[64] = "";
        (void)pcre2_config(PCRE2_CONFIG_VERSION, pcre);
        fprintf(f, "linked: libcurl %s, librdkafka %s, PCRE2 %s, zstd %s\n",
                curl_version_info(CURLVERSION_NOW)->version, rd_kafka_version_str(), pcre,
                ZSTD_versionString());
}
