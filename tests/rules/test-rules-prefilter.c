/* Tests of the regex prefilter (prestore8, issue 12): rules_regex_prefix reads the literal
 * bytes every subject a pattern can match starts with, and regex_op refuses subjects
 * without them before running PCRE2. The prefilter must never refuse a subject PCRE2 would
 * match: a table of patterns whose naive reading is wrong, then a model test that runs
 * PCRE2 itself on random patterns and subjects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rules/rules-internal.h"

static const struct prefix_case {
        const char *pat;
        const char *want; /* the prefix; "" none */
} prefix_cases[] = {
        { "^Accepted (?<method>[\\w/-]+) for", "Accepted " },
        { "^Failed (?<method>[\\w/-]+) for invalid user", "Failed " },
        { "^pam_unix\\(cron:session\\): session (?:opened|closed) for user ",
          "pam_unix(cron:session): session " },
        { "^new user: name=(?<user>[^,]+)", "new user: name=" },
        { "^\\s*(?<user>\\S+) : ", "" },           /* an escape class first */
        { "^(?:Starting|Stopping) .*", "" },        /* a group first */
        { "Accepted", "" },                         /* not anchored */
        { "^", "" },
        { "^ab?c", "a" },                           /* b is optional */
        { "^abc*", "ab" },
        { "^abc+", "ab" },                          /* c+ needs one c, but not "c" kept */
        { "^ab{2}", "a" },
        { "^a\\.+b", "a" },                         /* an escaped literal quantified */
        { "^a\\.b", "a.b" },
        { "^a\\-b\\/c", "a-b/c" },
        { "^abc|def", "" },                         /* the ^ binds the first branch only */
        { "^ab(?:c|d)e", "ab" },                    /* an inner alternative is fine */
        { "^ab[|(]|x", "" },                        /* the class hides nothing */
        { "^ab[]|(]c", "ab" },                      /* ']' first is a member */
        { "^ab[^]x]|c", "" },
        { "^ab[[:alpha:]]c", "" },                  /* POSIX classes: not read */
        { "^(?i)abc", "" },                         /* inline options */
        { "^abc(?i)def", "" },
        { "^ab(?x) # c(\n|d", "" },                 /* extended mode comments */
        { "^(*CR)abc", "" },
        { "^ab\\Q(\\E|c", "" },                     /* quoting */
        { "^ab(?|c|d)", "" },                       /* branch reset */
        { "^ab(?#c|d)e", "" },                      /* comments */
        { "^ab(c", "" },                            /* unbalanced */
        { "^ab)c", "" },
        { "^ab\\", "" },
        { "^a\\c(|b\\c)", "" },                     /* \c( is a character: "bi" matches */
        { "^a\\c)b", "" },
        { "^\xc3\xa9t\xc3\xa9", "" },               /* non-ASCII left whole */
        { "^ab\xc3\xa9", "ab" },
        { "^a b\tc", "a b" },                       /* a control byte ends the run */
        { "^ab\\dc", "ab" },
        { "^ab.c", "ab" },
        { "^ab$", "ab" },
        { "^ab#c", "ab" },
        { "^ab\\ c", "ab" },                        /* "\ " left to PCRE2 */
        { "^0123456789012345678901234567890123456789", "01234567890123456789012345678901" },
};

static void test_prefix_table(void **state)
{
        (void)state;
        for (size_t i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]); i++) {
                const struct prefix_case *c = &prefix_cases[i];
                char out[RULES_REGEX_PREFIX_MAX];
                size_t n = rules_regex_prefix(c->pat, strlen(c->pat), out, sizeof(out));

                if (n != strlen(c->want) || memcmp(out, c->want, n))
                        fail_msg("'%s': prefix '%.*s', want '%s'", c->pat, (int)n, out,
                                 c->want);
        }
        assert_int_equal(rules_regex_prefix(NULL, 0, NULL, 0), 0);
        /* A NUL byte inside is no option letter nor quantifier. */
        assert_int_equal(rules_regex_prefix("^a(?\0)", 6, (char[8]){ 0 }, 8), 0);
}

/* Pieces the patterns are made of: literals, escapes, classes, groups, alternatives,
 * options and quoting, each possibly followed by a quantifier. */
static const char *const pieces[] = {
        "a", "b", "A", " ", ":", "(", "\\(", "\\.", "\\-", ".", "\\d", "\\s", "\\S", "[ab]",
        "[^a]", "[]a]", "[[:alpha:]]", "(a|b)", "(?:ab)", "(?<n>a)", "(?=a)", "(?!b)", "|",
        "(?i)", "(?x)", "\\Qa(\\E", "$", "\xc3\xa9", "(?:a|)", "[(|]", "#", "(?#a|b)",
};
static const char *const quants[] = { "", "", "", "?", "*", "+", "{2}", "{0,2}", "+?" };
static const char alphabet[] = "abA :(.-\xc3\xa9|#";

static unsigned next(unsigned *s)
{
        *s = *s * 1103515245u + 12345u;
        return *s >> 8;
}

/* A deliberately broken reading, to prove the model bites: the letters and spaces after
 * '^', quantifiers, alternatives and options ignored. */
static size_t naive_prefix(const char *pat, char *out, size_t max)
{
        size_t o = 0;

        if (pat[0] != '^')
                return 0;
        for (const char *p = pat + 1; *p && o < max; p++) {
                if (*p != ' ' && *p != ':' && !((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z'))
                        break;
                out[o++] = *p;
        }
        return o;
}

/* The model: for random patterns PCRE2 compiles (as the loader does: PCRE2_UTF) and random
 * subjects over the patterns' alphabet, every subject PCRE2 matches starts with the
 * prefix. Enough of the matches have a prefix for the test to mean something, and the
 * naive reading above is refuted by some of the same subjects. */
static void test_prefix_model(void **state)
{
        unsigned seed = 812;
        size_t matched_with_prefix = 0, naive_refuted = 0;
        pcre2_match_data *md = pcre2_match_data_create(32, NULL);

        (void)state;
        assert_non_null(md);
        for (int t = 0; t < 4000; t++) {
                char pat[256] = "", pre[RULES_REGEX_PREFIX_MAX];
                int np = 1 + (int)(next(&seed) % 6), errcode;
                PCRE2_SIZE erroff;
                pcre2_code *re;
                size_t n;

                if (next(&seed) % 10)
                        strcat(pat, "^");
                for (int k = 0; k < np; k++) {
                        strcat(pat, pieces[next(&seed) % (sizeof(pieces) / sizeof(pieces[0]))]);
                        if (next(&seed) % 3 == 0)
                                strcat(pat, quants[next(&seed) % (sizeof(quants) /
                                                                  sizeof(quants[0]))]);
                }
                re = pcre2_compile((PCRE2_SPTR)pat, strlen(pat), PCRE2_UTF, &errcode, &erroff,
                                   NULL);
                if (!re)
                        continue;
                n = rules_regex_prefix(pat, strlen(pat), pre, sizeof(pre));
                for (int u = 0; u < 60; u++) {
                        char subj[16];
                        size_t sn = 0, len = next(&seed) % 7;

                        /* Subjects that start like the prefix half of the time. */
                        if (n && next(&seed) % 2) {
                                memcpy(subj, pre, n < 8 ? n : 8);
                                sn = n < 8 ? n : 8;
                        }
                        while (sn < len + (n < 8 ? n : 8) && sn + 2 < sizeof(subj)) {
                                char c = alphabet[next(&seed) % (sizeof(alphabet) - 1)];

                                if ((unsigned char)c >= 0x80) { /* é whole */
                                        subj[sn++] = '\xc3';
                                        subj[sn++] = '\xa9';
                                } else {
                                        subj[sn++] = c;
                                }
                                if (next(&seed) % 4 == 0)
                                        break;
                        }
                        if (pcre2_match(re, (PCRE2_SPTR)subj, sn, 0, 0, md, NULL) < 0)
                                continue;
                        if (n > sn || memcmp(subj, pre, n))
                                fail_msg("pattern '%s' matches '%.*s' without its prefix '%.*s'",
                                         pat, (int)sn, subj, (int)n, pre);
                        if (n)
                                matched_with_prefix++;
                        {
                                char nv[RULES_REGEX_PREFIX_MAX];
                                size_t nn = naive_prefix(pat, nv, sizeof(nv));

                                if (nn > sn || memcmp(subj, nv, nn))
                                        naive_refuted++;
                        }
                }
                pcre2_code_free(re);
        }
        pcre2_match_data_free(md);
        assert_true(matched_with_prefix > 1000);
        assert_true(naive_refuted > 100);
        printf("prefix model: %zu matches with a prefix, the naive reading refuted %zu times\n",
               matched_with_prefix, naive_refuted);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_prefix_table),
                cmocka_unit_test(test_prefix_model),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
