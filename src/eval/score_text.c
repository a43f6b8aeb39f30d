/* String helpers for the answer scorers (see score_text.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "eval/score_text.h"

#include <ctype.h>
#include <pcre2.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"

static pcre2_code *regex_compile(const char *pattern, bool caseless)
{
    int err = 0;
    PCRE2_SIZE offset = 0;
    /* Byte mode: the patterns are ASCII, and UTF mode would re-validate the whole subject on
     * every call (quadratic over the matches of a long generation). */
    uint32_t options = caseless ? PCRE2_CASELESS : 0;
    return pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &err, &offset,
                         NULL);
}

char *text_regex_replace(const char *s, const char *pattern, const char *replacement,
                         bool caseless)
{
    pcre2_code *re = regex_compile(pattern, caseless);
    if (!re) return xstrdup(s);

    size_t len = strlen(s);
    PCRE2_SIZE out_len = len * 2 + 64;
    char *out = xmalloc(out_len);
    uint32_t options = PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_EXTENDED |
                       PCRE2_SUBSTITUTE_OVERFLOW_LENGTH;
    int rc = pcre2_substitute(re, (PCRE2_SPTR)s, len, 0, options, NULL, NULL,
                              (PCRE2_SPTR)replacement, PCRE2_ZERO_TERMINATED,
                              (PCRE2_UCHAR *)out, &out_len);
    if (rc == PCRE2_ERROR_NOMEMORY) {
        out = xrealloc(out, out_len);
        rc = pcre2_substitute(re, (PCRE2_SPTR)s, len, 0, options, NULL, NULL,
                              (PCRE2_SPTR)replacement, PCRE2_ZERO_TERMINATED,
                              (PCRE2_UCHAR *)out, &out_len);
    }
    pcre2_code_free(re);
    if (rc < 0) {
        free(out);
        return xstrdup(s);
    }
    return out;
}

bool text_regex_last(const char *s, const char *pattern, int group, bool caseless,
                     size_t *start, size_t *end)
{
    pcre2_code *re = regex_compile(pattern, caseless);
    if (!re) return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    size_t len = strlen(s), at = 0;
    bool found = false;

    while (at <= len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, len, at, 0, md, NULL);
        if (rc <= group) break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        if (ov[2 * group] != PCRE2_UNSET) {
            *start = ov[2 * group];
            *end = ov[2 * group + 1];
            found = true;
        }
        at = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return found;
}

long text_match_brace(const char *s, size_t open)
{
    int depth = 0;
    for (size_t i = open; s[i]; i++) {
        if (s[i] == '\\' && s[i + 1]) {
            i++; /* an escaped brace "\{" does not open or close */
            continue;
        }
        if (s[i] == '{') depth++;
        if (s[i] == '}' && --depth == 0) return (long)i;
    }
    return -1;
}

char *text_replace_all(const char *s, const char *from, const char *to)
{
    StrBuf b = {0};
    size_t n = strlen(from);
    strbuf_puts(&b, "");
    for (const char *p = s; *p;) {
        const char *hit = n ? strstr(p, from) : NULL;
        if (!hit) {
            strbuf_puts(&b, p);
            break;
        }
        strbuf_append(&b, p, (size_t)(hit - p));
        strbuf_puts(&b, to);
        p = hit + n;
    }
    return b.data;
}

char *text_trimmed(const char *s, size_t start, size_t end)
{
    while (start < end && isspace((unsigned char)s[start])) start++;
    while (end > start && isspace((unsigned char)s[end - 1])) end--;
    char *out = xmalloc(end - start + 1);
    memcpy(out, s + start, end - start);
    out[end - start] = '\0';
    return out;
}

/* For every '{' of the text, the index of its closing '}' (-1 when unclosed, and for other
 * characters): one pass with a stack, so that many \boxed in one text cost linear time. */
static long *closing_braces(const char *text, size_t n)
{
    long *close = xmalloc((n + 1) * sizeof *close);
    size_t *stack = xmalloc((n + 1) * sizeof *stack);
    size_t depth = 0;
    for (size_t i = 0; i < n; i++) {
        close[i] = -1;
        if (text[i] == '\\' && i + 1 < n) {
            close[++i] = -1; /* an escaped brace "\{" does not open or close */
            continue;
        }
        if (text[i] == '{') stack[depth++] = i;
        if (text[i] == '}' && depth > 0) close[stack[--depth]] = (long)i;
    }
    free(stack);
    return close;
}

/* The argument of a \boxed or \fbox whose name ends at text[i], or NULL. */
static char *boxed_argument(const char *text, size_t i, const long *close)
{
    if (isalpha((unsigned char)text[i])) return NULL; /* e.g. "\boxedx" is another command */
    while (text[i] == ' ') i++;
    if (text[i] == '{') {
        if (close[i] < 0) return NULL;
        return text_trimmed(text, i + 1, (size_t)close[i]);
    }
    size_t end = i;
    while (text[end] && !isspace((unsigned char)text[end]) && text[end] != '$') end++;
    return end > i ? text_trimmed(text, i, end) : NULL;
}

char *text_last_boxed(const char *text)
{
    size_t n = strlen(text);
    long *close = NULL;
    char *arg = NULL;
    /* Scan backwards: the first command (from the end) whose argument closes wins. */
    for (size_t at = n; at-- > 0 && !arg;) {
        if (text[at] != '\\') continue;
        size_t name = 0;
        if (strncmp(text + at, "\\boxed", 6) == 0) name = 6;
        if (strncmp(text + at, "\\fbox", 5) == 0) name = 5;
        if (!name) continue;
        if (!close) close = closing_braces(text, n);
        arg = boxed_argument(text, at + name, close);
    }
    free(close);
    return arg;
}
