/* A small S3 client on libcurl: PUT, HEAD, GET and ListObjectsV2, signed with AWS Signature
 * V4 by libcurl (CURLOPT_AWS_SIGV4).
 *
 * Load: a few requests per exported epoch (one per object, plus a HEAD each), and a GET per
 * object when an export is read back. One curl handle is kept per client so that its
 * connection is reused; a client is used by one thread at a time.
 * Guarantees: every PUT carries Content-MD5 (the server refuses a body that does not match)
 * and x-amz-checksum-sha256, and x-amz-content-sha256, which libcurl 7.88 does not add itself
 * and which is signed, so a body altered in transit fails. Object keys are percent-encoded
 * fully (RFC 3986 unreserved characters and '/' kept) and query strings are given sorted and
 * encoded, since libcurl signs both exactly as given. A 5xx, 429 or transport failure is
 * retried here twice (0.2 s, 0.4 s, jittered) before it is returned; longer outages are the
 * exporter's to retry with its own backoff. This file does not log: the caller logs err. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/buf.h"
#include "core/hash.h"
#include "core/limits.h"
#include "core/tm.h"
#include "outputs/curl-dl.h"
#include "outputs/s3.h"

#define S3_ATTEMPTS 3
#define S3_RETRY_BASE_US (200 * 1000)
#define S3_CONNECT_TIMEOUT_MS 10000L
#define S3_LOW_SPEED_TIME_S 30L      /* abort when under 1 byte/s for this long */
#define S3_ERROR_BODY_MAX (1024 * 1024)
#define S3_URL_MAX 4096

struct s3_client {
        char *scheme;         /* "http" or "https" */
        char *hostport;       /* "127.0.0.1:7480" */
        char *region, *bucket, *prefix, *ak, *sk, *token, *lock_mode;
        int64_t lock_retain_us;
        bool virtual_host, tls_verify;
        char sigv4[160];
        struct curl_dl cu;    /* libcurl, loaded by s3_client_new */
        CURL *curl;
};

static int s3_fail(struct store_error *err, int r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static int s3_fail(struct store_error *err, int r, const char *fmt, ...)
{
        va_list ap;

        if (err) {
                va_start(ap, fmt);
                vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
                va_end(ap);
        }
        return r;
}

static char *dup_or_env(const char *v, const char *env)
{
        const char *s = v ? v : getenv(env);

        return s && *s ? strdup(s) : NULL;
}

void s3_client_free(struct s3_client *c)
{
        if (!c)
                return;
        if (c->curl)
                c->cu.easy_cleanup(c->curl);
        curl_dl_close(&c->cu);
        if (c->sk)
                explicit_bzero(c->sk, strlen(c->sk));
        free(c->scheme);
        free(c->hostport);
        free(c->region);
        free(c->bucket);
        free(c->prefix);
        free(c->ak);
        free(c->sk);
        free(c->token);
        free(c->lock_mode);
        free(c);
}

/* A bucket name as S3 accepts it (3-63 of a-z 0-9 . -), which also keeps it out of URLs'
 * special characters. */
static bool bucket_ok(const char *b)
{
        size_t n = strlen(b);

        return n >= 3 && n <= 63 && strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") == n;
}

static int parse_endpoint(struct s3_client *c, const char *ep, struct store_error *err)
{
        const char *sep = strstr(ep, "://");
        size_t hl;

        if (!sep || (strncmp(ep, "http", 4) != 0) ||
            (sep - ep != 4 && !(sep - ep == 5 && ep[4] == 's')))
                return s3_fail(err, -EINVAL, "endpoint '%.100s' is not http(s)://HOST[:PORT]", ep);
        hl = strcspn(sep + 3, "/?#");
        if (hl == 0)
                return s3_fail(err, -EINVAL, "endpoint '%.100s' has no host", ep);
        c->scheme = strndup(ep, (size_t)(sep - ep));
        c->hostport = strndup(sep + 3, hl);
        return c->scheme && c->hostport ? 0 : -ENOMEM;
}

int s3_client_new(const struct s3_config *cfg, struct s3_client **ret, struct store_error *err)
{
        struct s3_client *c = calloc(1, sizeof(*c));
        char def[128];
        int r = 0;

        if (!c)
                return -ENOMEM;
        /* S3 is the only output that needs libcurl: loaded here, not at every start. */
        r = curl_dl_open(&c->cu, err ? err->msg : def, err ? sizeof(err->msg) : sizeof(def));
        if (r < 0) {
                free(c);
                return r;
        }
        c->cu.global_init(CURL_GLOBAL_DEFAULT);
        c->region = strdup(cfg->region && *cfg->region ? cfg->region : "us-east-1");
        c->bucket = strdup(cfg->bucket ? cfg->bucket : "");
        c->virtual_host = cfg->virtual_host;
        c->tls_verify = cfg->tls_verify;
        c->lock_retain_us = cfg->lock_retain_us;
        c->ak = dup_or_env(cfg->access_key, "AWS_ACCESS_KEY_ID");
        c->sk = dup_or_env(cfg->secret_key, "AWS_SECRET_ACCESS_KEY");
        c->token = dup_or_env(cfg->session_token, "AWS_SESSION_TOKEN");
        c->lock_mode = cfg->lock_mode ? strdup(cfg->lock_mode) : NULL;
        /* The prefix without leading or doubled '/', with one trailing '/'. */
        const char *p = cfg->prefix ? cfg->prefix : "";
        while (*p == '/')
                p++;
        size_t pl = strlen(p);
        while (pl > 0 && p[pl - 1] == '/')
                pl--;
        c->prefix = malloc(pl + 2);
        if (c->prefix) {
                memcpy(c->prefix, p, pl);
                strcpy(c->prefix + pl, pl ? "/" : "");
        }
        c->curl = c->cu.easy_init();
        if (!c->region || !c->bucket || !c->prefix || !c->curl ||
            (cfg->lock_mode && !c->lock_mode))
                r = -ENOMEM;
        else if (!bucket_ok(c->bucket))
                r = s3_fail(err, -EINVAL, "bucket '%.80s' is not a bucket name (3-63 of a-z 0-9 . -)",
                            c->bucket);
        else if (!c->ak || !c->sk)
                r = s3_fail(err, -EINVAL, "no credentials: set access_key and secret_key or "
                                          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        else if (strspn(c->region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(c->region))
                r = s3_fail(err, -EINVAL, "region '%.60s' is not a region name", c->region);
        if (r >= 0 && cfg->endpoint) {
                r = parse_endpoint(c, cfg->endpoint, err);
        } else if (r >= 0) {
                snprintf(def, sizeof(def), "https://s3.%s.amazonaws.com", c->region);
                r = parse_endpoint(c, def, err);
        }
        if (r >= 0)
                snprintf(c->sigv4, sizeof(c->sigv4), "aws:amz:%s:s3", c->region);
        if (r < 0) {
                s3_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

const char *s3_client_prefix(const struct s3_client *c)
{
        return c->prefix;
}

const char *s3_client_bucket(const struct s3_client *c)
{
        return c->bucket;
}

/* ---- encoding ---- */

/* RFC 3986 percent-encoding as SigV4 wants it: unreserved kept, '/' kept when keep_slash. */
static int uri_encode(struct buf *b, const char *s, bool keep_slash)
{
        static const char hex[] = "0123456789ABCDEF";
        int r = 0;

        for (const unsigned char *p = (const unsigned char *)s; r >= 0 && *p; p++) {
                unsigned char ch = *p;
                if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
                    ch == '~' || (keep_slash && ch == '/')) {
                        r = buf_putc(b, (char)ch);
                } else {
                        char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
                        r = buf_append(b, e, 3);
                }
        }
        return r;
}

static void base64(const uint8_t *p, size_t n, char *out)
{
        EVP_EncodeBlock((unsigned char *)out, p, (int)n);
}

/* ---- one request ---- */

struct s3_req {
        const char *method;      /* PUT GET HEAD */
        const char *key;         /* object key (unencoded), or NULL for the bucket */
        const char *query;       /* canonical query string, or NULL */
        const void *body;
        size_t body_len;
        struct curl_slist *headers;
        /* issue 12: the body read from fd (from offset 0, body_len bytes) instead of body,
         * with its SHA-256 given (body_sha), so that no object is held in memory. */
        bool from_fd;
        int fd;
        const uint8_t *body_sha;
};

/* Reads an upload body from its file (issue 12); rewound for each attempt. */
struct fd_body {
        int fd;
        uint64_t off, len;
};

static size_t read_fd_cb(char *p, size_t size, size_t n, void *ud)
{
        struct fd_body *b = ud;
        size_t want = size * n;

        if (want > b->len - b->off)
                want = (size_t)(b->len - b->off);
        if (want == 0)
                return 0;
        for (;;) {
                ssize_t k = pread(b->fd, p, want, (off_t)b->off);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return CURL_READFUNC_ABORT;  /* the file shrank: never send less */
                b->off += (uint64_t)k;
                return (size_t)k;
        }
}

static int seek_fd_cb(void *ud, curl_off_t offset, int origin)
{
        struct fd_body *b = ud;

        if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > b->len)
                return CURL_SEEKFUNC_CANTSEEK;
        b->off = (uint64_t)offset;
        return CURL_SEEKFUNC_OK;
}

struct s3_resp {
        long status;
        struct buf body;
        char etag[80];
};

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
        struct s3_resp *rs = ud;

        return buf_append(&rs->body, p, size * n) < 0 ? 0 : size * n;
}

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
        struct s3_resp *rs = ud;
        size_t len = size * n;

        if (len > 5 && !strncasecmp(p, "etag:", 5)) {
                const char *v = p + 5;
                size_t k = 0;
                while (v < p + len && (*v == ' ' || *v == '"'))
                        v++;
                while (v < p + len && *v != '"' && *v != '\r' && *v != '\n' &&
                       k + 1 < sizeof(rs->etag))
                        rs->etag[k++] = (char)(*v >= 'A' && *v <= 'F' ? *v + 32 : *v), v++;
                rs->etag[k] = '\0';
        }
        return len;
}

static int build_url(struct s3_client *c, const struct s3_req *q, struct buf *url)
{
        int r;

        if (c->virtual_host)
                r = buf_printf(url, "%s://%s.%s/", c->scheme, c->bucket, c->hostport);
        else
                r = buf_printf(url, "%s://%s/%s%s", c->scheme, c->hostport, c->bucket,
                               q->key ? "/" : "");
        if (r >= 0 && q->key)
                r = uri_encode(url, q->key, true);
        if (r >= 0 && q->query)
                r = buf_printf(url, "?%s", q->query);
        return r;
}

/* The <Code> and <Message> of an S3 error body, into out. */
static void error_text(const struct buf *b, char *out, size_t out_len)
{
        const char *s = b->data ? b->data : "";
        const char *code = strstr(s, "<Code>"), *msg = strstr(s, "<Message>");
        int cl = 0, ml = 0;

        if (code) {
                code += 6;
                cl = (int)strcspn(code, "<");
        }
        if (msg) {
                msg += 9;
                ml = (int)strcspn(msg, "<");
        }
        if (code && ml)
                snprintf(out, out_len, "%.*s: %.*s", cl > 60 ? 60 : cl, code,
                         ml > 100 ? 100 : ml, msg);
        else if (code)
                snprintf(out, out_len, "%.*s", cl > 60 ? 60 : cl, code);
        else
                snprintf(out, out_len, "no error code in the response");
}

static int status_errno(long status)
{
        if (status == 404)
                return -ENOENT;
        if (status == 403 || status == 401)
                return -EACCES;
        if (status == 409)
                return -EEXIST;
        if (status == 429 || status >= 500)
                return -EAGAIN;
        return -EBADMSG;
}

static int curl_errno(CURLcode cc)
{
        switch (cc) {
        case CURLE_COULDNT_CONNECT: return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST: return -EHOSTUNREACH;
        case CURLE_OPERATION_TIMEDOUT: return -ETIMEDOUT;
        case CURLE_OUT_OF_MEMORY: return -ENOMEM;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR: return -EPROTO;
        default: return -EIO;
        }
}

static int perform_once(struct s3_client *c, const struct s3_req *q, const char *url,
                        struct s3_resp *rs, struct store_error *err)
{
        CURL *h = c->curl;
        struct fd_body fb = { q->fd, 0, q->body_len };
        CURLcode cc;

        buf_reset(&rs->body);
        rs->etag[0] = '\0';
        rs->status = 0;
        c->cu.easy_reset(h);
        c->cu.easy_setopt(h, CURLOPT_URL, url);
        c->cu.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        c->cu.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, S3_CONNECT_TIMEOUT_MS);
        c->cu.easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        c->cu.easy_setopt(h, CURLOPT_LOW_SPEED_TIME, S3_LOW_SPEED_TIME_S);
        c->cu.easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
        c->cu.easy_setopt(h, CURLOPT_USERNAME, c->ak);
        c->cu.easy_setopt(h, CURLOPT_PASSWORD, c->sk);
        c->cu.easy_setopt(h, CURLOPT_HTTPHEADER, q->headers);
        c->cu.easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
        c->cu.easy_setopt(h, CURLOPT_WRITEDATA, rs);
        c->cu.easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
        c->cu.easy_setopt(h, CURLOPT_HEADERDATA, rs);
        c->cu.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
        c->cu.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
        c->cu.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        if (!strcmp(q->method, "PUT") && q->from_fd) {  /* issue 12: streamed from a file */
                c->cu.easy_setopt(h, CURLOPT_UPLOAD, 1L);
                c->cu.easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->body_len);
                c->cu.easy_setopt(h, CURLOPT_READFUNCTION, read_fd_cb);
                c->cu.easy_setopt(h, CURLOPT_READDATA, &fb);
                c->cu.easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_fd_cb);
                c->cu.easy_setopt(h, CURLOPT_SEEKDATA, &fb);
        } else if (!strcmp(q->method, "PUT")) {
                c->cu.easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
                c->cu.easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
                c->cu.easy_setopt(h, CURLOPT_POSTFIELDS, q->body_len ? q->body : "");
        } else if (!strcmp(q->method, "HEAD")) {
                c->cu.easy_setopt(h, CURLOPT_NOBODY, 1L);
        }
        cc = c->cu.easy_perform(h);
        if (cc != CURLE_OK)
                return s3_fail(err, curl_errno(cc), "%s s3://%s/%.100s: %s", q->method,
                               c->bucket, q->key ? q->key : "", c->cu.easy_strerror(cc));
        c->cu.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
        if (rs->status >= 200 && rs->status < 300)
                return 0;
        char why[180];
        if (!strcmp(q->method, "HEAD"))
                snprintf(why, sizeof(why), "%s", rs->status == 404 ? "not found" : "refused");
        else
                error_text(&rs->body, why, sizeof(why));
        return s3_fail(err, status_errno(rs->status), "%s s3://%s/%.100s: HTTP %ld %s",
                       q->method, c->bucket, q->key ? q->key : "", rs->status, why);
}

/* Adds the payload hash header (signed by curl) and the session token, then performs with
 * retries of transient failures. */
static int s3_request(struct s3_client *c, struct s3_req *q, struct s3_resp *rs,
                      struct store_error *err)
{
        uint8_t sha[HASH_LEN];
        char hex[2 * HASH_LEN + 1], line[128 + 2 * HASH_LEN];
        struct buf url = BUF_INIT;
        struct curl_slist *h = q->headers, *t;
        int r;

        if (q->body_sha)
                memcpy(sha, q->body_sha, HASH_LEN);
        else
                hash_sha256(q->body_len ? q->body : "", q->body_len, sha);
        hash_hex(sha, HASH_LEN, hex);
        snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hex);
        t = c->cu.slist_append(h, line);
        if (t && c->token) {
                struct buf tl = BUF_INIT;
                h = t;
                t = buf_printf(&tl, "x-amz-security-token: %s", c->token) < 0
                            ? NULL : c->cu.slist_append(h, tl.data);
                buf_free(&tl);
        }
        if (!t) {
                q->headers = h;
                return -ENOMEM;
        }
        q->headers = t;
        url.max = S3_URL_MAX;
        r = build_url(c, q, &url);
        if (r < 0) {
                buf_free(&url);
                return s3_fail(err, -ENAMETOOLONG, "key too long: %.100s", q->key);
        }
        for (int attempt = 0; attempt < S3_ATTEMPTS; attempt++) {
                r = perform_once(c, q, url.data, rs, err);
                if (r >= 0 || attempt + 1 == S3_ATTEMPTS ||
                    !(r == -EAGAIN || r == -ECONNREFUSED || r == -ETIMEDOUT || r == -EIO))
                        break;
                int64_t wait = S3_RETRY_BASE_US << attempt;
                wait += (tm_mono_us() * 7919) % (wait / 2 + 1);
                usleep((useconds_t)wait);
        }
        buf_free(&url);
        return r;
}

/* ---- operations ---- */

static struct curl_slist *hdr(const struct s3_client *c, struct curl_slist *l, bool *oom,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct curl_slist *hdr(const struct s3_client *c, struct curl_slist *l, bool *oom,
                              const char *fmt, ...)
{
        char line[512];
        va_list ap;

        if (*oom)
                return l;
        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        struct curl_slist *n = c->cu.slist_append(l, line);
        if (!n)
                *oom = true;
        return n ? n : l;
}

/* A PUT of body (or, from_fd, of fd's first len bytes) whose MD5 and SHA-256 are given. */
static int put_common(struct s3_client *c, const char *key, const void *body, bool from_fd,
                      int fd, size_t len, const uint8_t md5[16], const uint8_t sha[HASH_LEN],
                      const struct s3_put_opts *o, struct store_error *err)
{
        char md5_b64[32], sha_b64[48];
        struct curl_slist *h = NULL;
        struct s3_resp rs = { .body = BUF_INIT };
        bool oom = false;
        int r;

        base64(md5, 16, md5_b64);
        base64(sha, HASH_LEN, sha_b64);
        h = hdr(c, h, &oom, "Content-MD5: %s", md5_b64);
        h = hdr(c, h, &oom, "x-amz-checksum-sha256: %s", sha_b64);
        h = hdr(c, h, &oom, "Content-Type: %s",
                o && o->content_type ? o->content_type : "application/octet-stream");
        if (o && o->tagging)
                h = hdr(c, h, &oom, "x-amz-tagging: %s", o->tagging);
        if (o && o->lock && c->lock_mode) {
                char until[TM_RFC3339_LEN], *dot;
                tm_format_rfc3339(tm_now_us() + c->lock_retain_us, until);
                dot = strchr(until, '.');
                if (dot)
                        strcpy(dot, "Z");
                h = hdr(c, h, &oom, "x-amz-object-lock-mode: %s", c->lock_mode);
                h = hdr(c, h, &oom, "x-amz-object-lock-retain-until-date: %s", until);
        }
        if (oom) {
                c->cu.slist_free_all(h);
                return -ENOMEM;
        }
        struct s3_req q = { "PUT", key, NULL, body, len, h, from_fd, fd, sha };
        rs.body.max = S3_ERROR_BODY_MAX;
        r = s3_request(c, &q, &rs, err);
        c->cu.slist_free_all(q.headers);
        buf_free(&rs.body);
        return r;
}

int s3_put(struct s3_client *c, const char *key, const void *body, size_t len,
           const struct s3_put_opts *o, struct store_error *err)
{
        uint8_t md5[16], sha[HASH_LEN];

        EVP_Digest(len ? body : "", len, md5, NULL, EVP_md5(), NULL);
        hash_sha256(len ? body : "", len, sha);
        return put_common(c, key, body, false, -1, len, md5, sha, o, err);
}

int s3_put_fd(struct s3_client *c, const char *key, int fd, size_t len, const uint8_t md5[16],
              const uint8_t sha[HASH_LEN], const struct s3_put_opts *o,
              struct store_error *err)
{
        if (len > S3_OBJECT_MAX)
                return s3_fail(err, -E2BIG, "PUT s3://%s/%.100s: %zu bytes, over the %zu of "
                               "one PUT (multipart uploads are not built)", c->bucket, key, len,
                               S3_OBJECT_MAX);
        return put_common(c, key, NULL, true, fd, len, md5, sha, o, err);
}

int s3_head(struct s3_client *c, const char *key, char etag[80], struct store_error *err)
{
        struct s3_resp rs = { .body = BUF_INIT };
        struct s3_req q = { .method = "HEAD", .key = key };
        int r = s3_request(c, &q, &rs, err);

        if (r >= 0)
                memcpy(etag, rs.etag, sizeof(rs.etag));
        c->cu.slist_free_all(q.headers);
        buf_free(&rs.body);
        return r;
}

int s3_get(struct s3_client *c, const char *key, char **ret, size_t *ret_len,
           struct store_error *err)
{
        struct s3_resp rs = { .body = BUF_INIT };
        struct s3_req q = { .method = "GET", .key = key };
        int r;

        rs.body.max = S3_OBJECT_MAX;
        r = s3_request(c, &q, &rs, err);
        c->cu.slist_free_all(q.headers);
        if (r >= 0) {
                *ret = buf_steal(&rs.body, ret_len);
                if (!*ret)
                        r = -ENOMEM;
        }
        buf_free(&rs.body);
        return r;
}

/* The text between <tag> and </tag> starting at *pos, XML entities decoded, into out;
 * advances *pos past it. false when there is none. */
static bool xml_next(const char **pos, const char *tag, struct buf *out)
{
        char open[64], close[64];
        const char *a, *b;

        snprintf(open, sizeof(open), "<%s>", tag);
        snprintf(close, sizeof(close), "</%s>", tag);
        a = strstr(*pos, open);
        if (!a)
                return false;
        a += strlen(open);
        b = strstr(a, close);
        if (!b)
                return false;
        buf_reset(out);
        for (const char *p = a; p < b; p++) {
                static const struct { const char *ent; char ch; } ents[] = {
                        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
                        { "&quot;", '"' }, { "&apos;", '\'' },
                };
                size_t k;
                for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
                        if (!strncmp(p, ents[k].ent, strlen(ents[k].ent)))
                                break;
                if (k < sizeof(ents) / sizeof(ents[0])) {
                        buf_putc(out, ents[k].ch);
                        p += strlen(ents[k].ent) - 1;
                } else {
                        buf_putc(out, *p);
                }
        }
        *pos = b + strlen(close);
        return true;
}

int s3_list(struct s3_client *c, const char *prefix, int (*cb)(void *ud, const char *key),
            void *ud, struct store_error *err)
{
        struct buf token = BUF_INIT, query = BUF_INIT, key = BUF_INIT, tmp = BUF_INIT;
        struct s3_resp rs = { .body = BUF_INIT };
        int r = 0;

        rs.body.max = BUF_DEFAULT_MAX;
        for (;;) {
                /* Parameters in byte order, as SigV4's canonical query string wants. */
                buf_reset(&query);
                if (token.len) {
                        r = buf_puts(&query, "continuation-token=");
                        if (r >= 0)
                                r = uri_encode(&query, token.data, false);
                        if (r >= 0)
                                r = buf_putc(&query, '&');
                }
                if (r >= 0)
                        r = buf_puts(&query, "list-type=2&prefix=");
                if (r >= 0)
                        r = uri_encode(&query, prefix, false);
                if (r < 0)
                        break;
                struct s3_req q = { .method = "GET", .query = query.data };
                r = s3_request(c, &q, &rs, err);
                c->cu.slist_free_all(q.headers);
                if (r < 0)
                        break;
                const char *pos = rs.body.data ? rs.body.data : "";
                while (r >= 0 && xml_next(&pos, "Key", &key))
                        r = cb(ud, key.data ? key.data : "");
                if (r < 0)
                        break;
                pos = rs.body.data ? rs.body.data : "";
                bool more = xml_next(&pos, "IsTruncated", &tmp) && tmp.data &&
                            !strcmp(tmp.data, "true");
                pos = rs.body.data ? rs.body.data : "";
                if (!more || !xml_next(&pos, "NextContinuationToken", &token) || !token.len)
                        break;
        }
        buf_free(&token);
        buf_free(&query);
        buf_free(&key);
        buf_free(&tmp);
        buf_free(&rs.body);
        return r < 0 ? r : 0;
}
