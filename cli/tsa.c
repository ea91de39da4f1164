/* RFC 3161 time-stamp requests and checks with OpenSSL's TS API; transport with libcurl
 * (RFC 3161 section 3.4: POST application/timestamp-query, reply application/timestamp-reply),
 * loaded for the request only (outputs/curl-dl.h): checking a token needs no libcurl.
 * See cli/tsa.h. */
#include "cli/tsa.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "core/hash.h"
#include "outputs/curl-dl.h"

static void ssl_err(char *err, size_t err_len, const char *what)
{
        unsigned long e = ERR_get_error();
        char s[160] = "";

        if (e)
                ERR_error_string_n(e, s, sizeof(s));
        snprintf(err, err_len, "%s%s%s", what, s[0] ? ": " : "", s);
        ERR_clear_error();
}

/* A TimeStampReq for digest (SHA-256) with a fresh 64-bit nonce and certReq true. */
static TS_REQ *request_new(const uint8_t digest[HASH_LEN])
{
        TS_REQ *req = TS_REQ_new();
        TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
        X509_ALGOR *alg = X509_ALGOR_new();
        ASN1_INTEGER *nonce = ASN1_INTEGER_new();
        uint64_t n = 0;
        bool ok = req && mi && alg && nonce && RAND_bytes((unsigned char *)&n, sizeof(n)) == 1;

        ok = ok && X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) == 1 &&
             TS_MSG_IMPRINT_set_algo(mi, alg) == 1 &&
             TS_MSG_IMPRINT_set_msg(mi, (unsigned char *)digest, HASH_LEN) == 1 &&
             TS_REQ_set_version(req, 1) == 1 && TS_REQ_set_msg_imprint(req, mi) == 1 &&
             ASN1_INTEGER_set_uint64(nonce, n >> 1) == 1 && TS_REQ_set_nonce(req, nonce) == 1 &&
             TS_REQ_set_cert_req(req, 1) == 1;
        X509_ALGOR_free(alg);  /* the setters copy */
        TS_MSG_IMPRINT_free(mi);
        ASN1_INTEGER_free(nonce);
        if (!ok) {
                TS_REQ_free(req);
                return NULL;
        }
        return req;
}

static size_t body_cb(char *p, size_t size, size_t n, void *ud)
{
        struct buf *b = ud;

        return buf_append(b, p, size * n) < 0 ? 0 : size * n;
}

static int post(const char *url, const unsigned char *der, int der_len, struct buf *body,
                char *err, size_t err_len)
{
        struct curl_dl cu;
        CURL *c;
        struct curl_slist *h = NULL;
        char cerr[CURL_ERROR_SIZE] = "";
        long status = 0;
        CURLcode rc;
        int r = curl_dl_open(&cu, err, err_len);

        if (r < 0)
                return r;
        c = cu.easy_init();
        if (!c) {
                curl_dl_close(&cu);
                return -ENOMEM;
        }
        h = cu.slist_append(h, "Content-Type: application/timestamp-query");
        body->max = TSA_RESPONSE_MAX;
        cu.easy_setopt(c, CURLOPT_URL, url);
        cu.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        cu.easy_setopt(c, CURLOPT_HTTPHEADER, h);
        cu.easy_setopt(c, CURLOPT_POSTFIELDS, der);
        cu.easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)der_len);
        cu.easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
        cu.easy_setopt(c, CURLOPT_WRITEDATA, body);
        cu.easy_setopt(c, CURLOPT_TIMEOUT, (long)TSA_TIMEOUT_S);
        cu.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        cu.easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
        rc = cu.easy_perform(c);
        if (rc == CURLE_OK)
                cu.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        cu.slist_free_all(h);
        cu.easy_cleanup(c);
        if (rc != CURLE_OK)
                snprintf(err, err_len, "%s: %s", url, cerr[0] ? cerr : cu.easy_strerror(rc));
        curl_dl_close(&cu);
        if (rc != CURLE_OK)
                return rc == CURLE_WRITE_ERROR ? -E2BIG : -EIO;
        if (status != 200) {
                snprintf(err, err_len, "%s: HTTP status %ld", url, status);
                return -EIO;
        }
        return 0;
}

int tsa_stamp(const char *url, const void *data, size_t len, struct buf *out, char *err,
              size_t err_len)
{
        uint8_t digest[HASH_LEN];
        unsigned char *der = NULL;
        struct buf body = BUF_INIT;
        TS_REQ *req;
        TS_RESP *resp = NULL;
        TS_VERIFY_CTX *ctx = NULL;
        const unsigned char *p;
        int der_len, r;

        hash_sha256(data, len, digest);
        req = request_new(digest);
        der_len = req ? i2d_TS_REQ(req, &der) : -1;
        if (der_len <= 0) {
                TS_REQ_free(req);
                snprintf(err, err_len, "cannot build the time-stamp request");
                return -ENOMEM;
        }
        r = post(url, der, der_len, &body, err, err_len);
        OPENSSL_free(der);
        p = (const unsigned char *)body.data;
        if (r >= 0 && (!p || !(resp = d2i_TS_RESP(NULL, &p, (long)body.len)))) {
                snprintf(err, err_len, "%s: the reply is not a TimeStampResp", url);
                r = -EBADMSG;
        }
        /* Granted, for this digest and nonce; the signature is checked by tsa_verify, against
         * the CA the auditor trusts. */
        if (r >= 0 && !(ctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL)))
                r = -ENOMEM;
        if (r >= 0) {
                TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_IMPRINT | TS_VFY_NONCE);
                if (TS_RESP_verify_response(ctx, resp) != 1) {
                        ssl_err(err, err_len, "the TSA's reply does not grant this request");
                        r = -EBADMSG;
                }
        }
        if (r >= 0)
                r = buf_append(out, body.data, body.len);
        TS_VERIFY_CTX_free(ctx);
        TS_RESP_free(resp);
        TS_REQ_free(req);
        buf_free(&body);
        return r;
}

int tsa_verify(const void *resp_der, size_t resp_len, const void *data, size_t len,
               const char *ca_file, char ret_time[32], char *err, size_t err_len)
{
        const unsigned char *p = resp_der;
        TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)resp_len);
        TS_VERIFY_CTX *ctx = NULL;
        X509_STORE *st = NULL;
        TS_TST_INFO *tst;
        int r = 0;

        if (!resp || p != (const unsigned char *)resp_der + resp_len) {
                snprintf(err, err_len, "not a DER TimeStampResp");
                TS_RESP_free(resp);
                return -EBADMSG;
        }
        tst = TS_RESP_get_tst_info(resp);
        if (tst && OBJ_obj2nid(TS_MSG_IMPRINT_get_algo(TS_TST_INFO_get_msg_imprint(tst))
                                       ->algorithm) != NID_sha256) {
                snprintf(err, err_len, "the token's digest is not SHA-256");
                TS_RESP_free(resp);
                return -EBADMSG;
        }
        ctx = TS_VERIFY_CTX_new();
        st = X509_STORE_new();
        if (!ctx || !st)
                r = -ENOMEM;
        if (r >= 0 && X509_STORE_load_file(st, ca_file) != 1) {
                ssl_err(err, err_len, ca_file);
                r = -ENOENT;
        }
        if (r >= 0) {
                BIO *bio = BIO_new_mem_buf(data, (int)len);
                TS_VERIFY_CTX_set_store(ctx, st);  /* owned by ctx from here */
                st = NULL;
                TS_VERIFY_CTX_set_data(ctx, bio);  /* likewise */
                TS_VERIFY_CTX_set_flags(ctx, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_DATA);
                if (!bio)
                        r = -ENOMEM;
        }
        if (r >= 0 && TS_RESP_verify_response(ctx, resp) != 1) {
                ssl_err(err, err_len, "time-stamp token does not verify");
                r = -EBADMSG;
        }
        if (r >= 0 && ret_time) {
                const ASN1_GENERALIZEDTIME *t = TS_TST_INFO_get_time(tst);
                struct tm tm;
                if (t && ASN1_TIME_to_tm(t, &tm) == 1)
                        strftime(ret_time, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
                else
                        snprintf(ret_time, 32, "?");
        }
        X509_STORE_free(st);
        TS_VERIFY_CTX_free(ctx);
        TS_RESP_free(resp);
        return r;
}
