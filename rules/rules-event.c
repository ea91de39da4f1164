/* Gate records from text, for inline tests and `gatelog rules explain`: a syslog line goes
 * through normalize_syslog exactly as the daemon's collectors do; a JSON object becomes a
 * gate record (completed) or a structured event under `event` (as the Kafka input will
 * deliver them). Not on the daemon's hot path. */
#include <errno.h>
#include <string.h>

#include "core/tm.h"
#include "normalize/normalize.h"
#include "rules/rules-internal.h"

static const char *const null_members[] = {
        "host", "app", "msgid", "pid", "procid", "facility", "severity", "message", "rule",
        "actor", "action", "target", "outcome", "raw", "raw_b64", "error",
};

static int base_fill(json *rec, int64_t received_us, const char *raw, size_t raw_len)
{
        char t[TM_RFC3339_LEN], hex[HASH_HEX_LEN];
        uint8_t h[HASH_LEN];
        json *src;
        int r = 0;

        tm_format_rfc3339(received_us, t);
        hash_sha256(raw, raw_len, h);
        hash_hex(h, HASH_LEN, hex);
        if (!json_obj_get(rec, "received"))
                r = json_obj_set_str(rec, "received", t);
        if (r == 0 && !json_obj_get(rec, "time"))
                r = json_obj_set_str(rec, "time", t);
        if (r == 0 && !json_obj_get(rec, "source")) {
                src = json_new_obj();
                if (!src || json_obj_set_str(src, "kind", "json") < 0 ||
                    json_obj_set_str(src, "transport", "stdin") < 0 ||
                    json_obj_set(src, "peer", json_new_null()) < 0) {
                        json_free(src);
                        return -ENOMEM;
                }
                r = json_obj_set(rec, "source", src);
        }
        if (r == 0 && !json_obj_get(rec, "format"))
                r = json_obj_set_str(rec, "format", "json");
        for (size_t i = 0; r == 0 && i < sizeof(null_members) / sizeof(null_members[0]); i++)
                if (!json_obj_get(rec, null_members[i]))
                        r = json_obj_set(rec, null_members[i], json_new_null());
        if (r == 0 && !json_obj_get(rec, "sd"))
                r = json_obj_set(rec, "sd", json_new_obj());
        if (r == 0 && !json_obj_get(rec, "criteria"))
                r = json_obj_set(rec, "criteria", json_new_arr());
        if (r == 0 && !json_obj_get(rec, "flags"))
                r = json_obj_set(rec, "flags", json_new_arr());
        if (r == 0 && !json_obj_get(rec, "raw_sha256"))
                r = json_obj_set_str(rec, "raw_sha256", hex);
        return r;
}

json *rules_record_base(void)
{
        json *rec = json_new_obj();

        if (rec && base_fill(rec, 0, "", 0) < 0) {
                json_free(rec);
                return NULL;
        }
        return rec;
}

int rules_json_overlay(json *dst, const json *src)
{
        for (size_t i = 0; i < json_len(src); i++) {
                const char *key;
                size_t klen;
                json *v = json_obj_at(src, i, &key, &klen), *d = json_obj_get(dst, key);
                int r;

                if (d && json_type_of(d) == JSON_OBJ && json_type_of(v) == JSON_OBJ) {
                        r = rules_json_overlay(d, v);
                } else {
                        json *c = json_clone(v);

                        r = c ? json_obj_setn(dst, key, klen, c) : -ENOMEM;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int rules_input_parse(const char *s, enum rules_input *ret)
{
        static const char *const names[] = { "auto", "json", "rfc5424", "rfc3164" };

        for (int i = 0; i < 4; i++)
                if (!strcmp(s, names[i])) {
                        *ret = (enum rules_input)i;
                        return 0;
                }
        return -EINVAL;
}

static bool looks_like_record(const json *o)
{
        return (json_obj_get(o, "source") || json_obj_get(o, "received")) &&
               json_obj_get(o, "message");
}

int rules_event_from_text(const char *text, size_t len, enum rules_input in, int64_t received_us,
                          json **ret)
{
        static const struct norm_source src = { "syslog", "stdin", NULL };
        size_t i = 0;
        int r;

        while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' ||
                           text[i] == '\r'))
                i++;
        if (in == RULES_INPUT_JSON || (in == RULES_INPUT_AUTO && i < len && text[i] == '{')) {
                json *o = NULL, *rec;

                r = json_parse(text, len, &o, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r == 0 && json_type_of(o) != JSON_OBJ) {
                        json_free(o);
                        r = -EBADMSG;
                }
                if (r == 0) {
                        if (looks_like_record(o)) {
                                rec = o;
                        } else {
                                rec = json_new_obj();
                                if (!rec || json_obj_set(rec, "event", o) < 0) {
                                        json_free(rec);
                                        return -ENOMEM;
                                }
                        }
                        r = base_fill(rec, received_us, text, len);
                        if (r < 0) {
                                json_free(rec);
                                return r;
                        }
                        *ret = rec;
                        return 0;
                }
                if (in == RULES_INPUT_JSON)
                        return -EBADMSG;
        }
        return normalize_syslog(text, len, false, &src, received_us,
                                in == RULES_INPUT_RFC5424   ? NORM_RFC5424
                                : in == RULES_INPUT_RFC3164 ? NORM_RFC3164
                                                            : NORM_AUTO,
                                ret);
}
