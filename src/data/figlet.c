/* FIGlet font parsing and rendering (see figlet.h). The layout follows figlet 2.2.5: for each
 * new character it finds how many columns the character can overlap the line so far
 * (smush_amount), then merges the overlapping columns (smush_chars) and appends the rest. */
#include "data/figlet.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define FIG_MAX_HEIGHT 256
#define FIG_MAX_WIDTH 4096
#define FIG_MAX_TEXT 4096
#define FIG_MAX_FILE (64u << 20)

static const int32_t german_codes[7] = {196, 214, 220, 228, 246, 252, 223};

/* A cursor over the lines of the file; `line_no` is 1-based and names the line last read. */
typedef struct LineReader {
    const char *name;
    const char *p, *end;
    int line_no;
} LineReader;

/* Next line without its '\n'; 0, or 1 at end of file, or -1 on a NUL byte. */
static int next_line(LineReader *r, const char **s, size_t *n)
{
    if (r->p >= r->end) return 1;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    const char *stop = nl ? nl : r->end;
    r->line_no++;
    *s = r->p;
    *n = (size_t)(stop - r->p);
    r->p = nl ? nl + 1 : r->end;
    if (memchr(*s, '\0', *n))
        return pf_fail("%s: line %d: contains a NUL byte", r->name, r->line_no);
    return 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Printable description of a character code for messages: 'A' or code 196. */
static const char *code_text(int32_t code, char *buf, size_t size)
{
    if (code > 32 && code < 127) snprintf(buf, size, "'%c'", (char)code);
    else snprintf(buf, size, "code %ld", (long)code);
    return buf;
}

/* Reads the next integer field of the header; `required` fields must be present. Returns 1 when
 * an optional field is absent, 0 when read, -1 on error. */
static int header_int(const char **s, const char *end, const char *field, bool required,
                      const LineReader *r, long *out)
{
    while (*s < end && is_space(**s)) (*s)++;
    if (*s >= end) {
        if (!required) return 1;
        return pf_fail("%s: line 1: header ends before the field '%s'", r->name, field);
    }
    char tmp[32];
    size_t n = 0;
    while (*s + n < end && !is_space((*s)[n]) && n < sizeof tmp - 1) {
        tmp[n] = (*s)[n];
        n++;
    }
    tmp[n] = '\0';
    char *stop = NULL;
    errno = 0;
    long v = strtol(tmp, &stop, 10);
    if (n == 0 || *stop != '\0' || errno || v < INT_MIN / 2 || v > INT_MAX / 2)
        return pf_fail("%s: line 1: header field '%s' is '%s', not an integer", r->name, field,
                       tmp);
    *s += n;
    *out = v;
    return 0;
}

/* The figlet program's layout when the header has no full_layout, from old_layout. */
static int layout_from_old(int old_layout)
{
    if (old_layout == 0) return FIG_LAYOUT_KERN;
    if (old_layout < 0) return 0;
    return (old_layout & 31) | FIG_LAYOUT_SMUSH;
}

static int parse_header(FigFont *f, LineReader *r)
{
    const char *s;
    size_t n;
    int rc = next_line(r, &s, &n);
    if (rc) return rc < 0 ? -1 : pf_fail("%s: line 1: empty file, no FIGfont header", r->name);
    if (n < 6 || memcmp(s, "flf2a", 5) != 0)
        return pf_fail("%s: line 1: header does not start with the signature 'flf2a' and a "
                       "hardblank character", r->name);
    f->hardblank = s[5];
    const char *p = s + 6, *end = s + n;
    static const char *names[8] = {"height", "baseline", "max_length", "old_layout",
                                   "comment_lines", "print_direction", "full_layout",
                                   "codetag_count"};
    long v[8] = {0, 0, 0, 0, 0, 0, -1, -1};
    for (int i = 0; i < 8; i++) {
        rc = header_int(&p, end, names[i], i < 5, r, &v[i]);
        if (rc < 0) return -1;
        if (rc == 1) break;
    }
    while (p < end && is_space(*p)) p++;
    if (p < end) return pf_fail("%s: line 1: unexpected text after the header fields", r->name);

    if (v[0] < 1 || v[0] > FIG_MAX_HEIGHT)
        return pf_fail("%s: line 1: height %ld is not in 1..%d", r->name, v[0], FIG_MAX_HEIGHT);
    if (v[1] < 1 || v[1] > v[0])
        return pf_fail("%s: line 1: baseline %ld is not in 1..height (%ld)", r->name, v[1], v[0]);
    if (v[2] < 1) return pf_fail("%s: line 1: max_length %ld is below 1", r->name, v[2]);
    if (v[3] < -1 || v[3] > 63)
        return pf_fail("%s: line 1: old_layout %ld is not in -1..63", r->name, v[3]);
    if (v[4] < 0) return pf_fail("%s: line 1: comment_lines %ld is negative", r->name, v[4]);
    if (v[5] != 0 && v[5] != 1)
        return pf_fail("%s: line 1: print_direction %ld is not 0 or 1", r->name, v[5]);
    if (v[6] < -1 || v[6] > 32767)
        return pf_fail("%s: line 1: full_layout %ld is not in 0..32767", r->name, v[6]);

    f->height = (int)v[0];
    f->baseline = (int)v[1];
    f->max_length = (int)v[2];
    f->old_layout = (int)v[3];
    f->comment_lines = (int)v[4];
    f->print_direction = (int)v[5];
    f->full_layout = (int)v[6];
    f->layout = f->full_layout >= 0 ? (f->full_layout & 255) : layout_from_old(f->old_layout);
    return 0;
}

/* Growable glyph table and cell pool of the font being parsed. */
static void glyph_push(FigFont *f, size_t *cap_glyphs, size_t *cap_cells, size_t *n_cells,
                       int32_t code, int width, const char *rows)
{
    if (f->n_glyphs == *cap_glyphs) {
        *cap_glyphs = *cap_glyphs ? 2 * *cap_glyphs : 128;
        f->glyphs = xrealloc(f->glyphs, *cap_glyphs * sizeof *f->glyphs);
    }
    size_t size = (size_t)width * (size_t)f->height;
    while (*n_cells + size > *cap_cells) {
        *cap_cells = *cap_cells ? 2 * *cap_cells : 4096;
        f->cells = xrealloc(f->cells, *cap_cells);
    }
    memcpy(f->cells + *n_cells, rows, size);
    f->glyphs[f->n_glyphs] = (FigGlyph){code, width, *n_cells};
    *n_cells += size;
    if (code >= 0 && code < 256) f->ascii_index[code] = (int)f->n_glyphs;
    f->n_glyphs++;
}

/* Reads `height` rows of one character into `rows` (FIG_MAX_HEIGHT * FIG_MAX_WIDTH bytes).
 * Each row ends in an endmark; the last row of a character (when height > 1) ends in two, and
 * no other row may. `*eof_at_start` is set (and 1 returned) when the file ends before the
 * first row. */
static int read_glyph(const FigFont *f, LineReader *r, int32_t code, char *rows, int *width,
                      bool *eof_at_start)
{
    char what[32];
    int first_line = r->line_no + 1;
    *eof_at_start = false;
    for (int row = 0; row < f->height; row++) {
        const char *s;
        size_t n;
        int rc = next_line(r, &s, &n);
        if (rc < 0) return -1;
        if (rc == 1) {
            if (row == 0) {
                *eof_at_start = true;
                return 1;
            }
            return pf_fail("%s: line %d: file ends inside character %s (row %d of %d is "
                           "missing)", r->name, r->line_no + 1,
                           code_text(code, what, sizeof what), row + 1, f->height);
        }
        while (n > 0 && is_space(s[n - 1])) n--;
        if (n == 0)
            return pf_fail("%s: line %d: row %d of character %s is empty: no endmark",
                           r->name, r->line_no, row + 1, code_text(code, what, sizeof what));
        char endmark = s[n - 1];
        size_t marks = 0;
        while (marks < n && s[n - 1 - marks] == endmark) marks++;
        bool last = row == f->height - 1;
        if (!last && marks >= 2)
            return pf_fail("%s: line %d: row %d of %d of character %s ends with a doubled "
                           "endmark '%c%c', which ends a character: the character has fewer "
                           "rows than the header's height", r->name, r->line_no, row + 1,
                           f->height, code_text(code, what, sizeof what), endmark, endmark);
        if (last && f->height > 1 && marks < 2)
            return pf_fail("%s: line %d: last row (%d) of character %s must end with a doubled "
                           "endmark, found a single '%c': wrong endmarks or the character has "
                           "more rows than the header's height", r->name, r->line_no,
                           f->height, code_text(code, what, sizeof what), endmark);
        size_t w = n - marks;
        if (w > FIG_MAX_WIDTH)
            return pf_fail("%s: line %d: row is %zu columns wide, above the limit %d", r->name,
                           r->line_no, w, FIG_MAX_WIDTH);
        if (row == 0) {
            *width = (int)w;
        } else if ((int)w != *width) {
            return pf_fail("%s: line %d: row %d of character %s is %zu columns wide, but its "
                           "first row (line %d) is %d", r->name, r->line_no, row + 1,
                           code_text(code, what, sizeof what), w, first_line, *width);
        }
        memcpy(rows + (size_t)row * (size_t)*width, s, w);
    }
    return 0;
}

/* Parses a code-tag line ("196", "0x2122 comment", "-0x100"): 0 or -1. */
static int parse_code_tag(const LineReader *r, const char *s, size_t n, int32_t *code)
{
    char tmp[40];
    size_t i = 0;
    while (i < n && is_space(s[i])) i++;
    size_t k = 0;
    while (i + k < n && !is_space(s[i + k]) && k < sizeof tmp - 1) {
        tmp[k] = s[i + k];
        k++;
    }
    tmp[k] = '\0';
    char *stop = NULL;
    errno = 0;
    long long v = strtoll(tmp, &stop, 0);
    if (k == 0 || *stop != '\0' || errno || v < INT32_MIN || v > INT32_MAX)
        return pf_fail("%s: line %d: expected the code tag of a character (a number such as "
                       "196 or 0x2122), found '%.*s'", r->name, r->line_no,
                       (int)(n > 40 ? 40 : n), s);
    *code = (int32_t)v;
    return 0;
}

static int parse_body(FigFont *f, LineReader *r)
{
    size_t cap_glyphs = 0, cap_cells = 0, n_cells = 0;
    char *rows = xmalloc((size_t)FIG_MAX_HEIGHT * FIG_MAX_WIDTH);
    int rc = 0, width = 0;
    bool eof = false;

    for (int i = 0; i < f->comment_lines && rc == 0; i++) {
        const char *s;
        size_t n;
        rc = next_line(r, &s, &n);
        if (rc == 1)
            rc = pf_fail("%s: line %d: file ends inside the comment block (the header "
                         "promises %d comment lines)", r->name, r->line_no + 1,
                         f->comment_lines);
    }
    for (int32_t code = 32; code <= 126 && rc == 0; code++) {
        rc = read_glyph(f, r, code, rows, &width, &eof);
        if (rc == 1) {
            char what[32];
            rc = pf_fail("%s: line %d: file ends before required character %s (only %d of "
                         "the 95 ASCII characters are present)", r->name, r->line_no + 1,
                         code_text(code, what, sizeof what), (int)(code - 32));
        }
        if (rc == 0) glyph_push(f, &cap_glyphs, &cap_cells, &n_cells, code, width, rows);
    }
    for (int i = 0; i < 7 && rc == 0 && !eof; i++) {
        rc = read_glyph(f, r, german_codes[i], rows, &width, &eof);
        if (rc == 0) glyph_push(f, &cap_glyphs, &cap_cells, &n_cells, german_codes[i], width,
                                rows);
    }
    if (rc == 1) rc = 0; /* the German characters are optional at the end of the file */
    while (rc == 0 && !eof) {
        const char *s;
        size_t n;
        int32_t code = 0;
        rc = next_line(r, &s, &n);
        if (rc == 1) {
            rc = 0;
            break;
        }
        size_t k = 0;
        while (k < n && is_space(s[k])) k++;
        if (rc < 0 || k == n) continue; /* blank lines between or after tagged characters */
        rc = parse_code_tag(r, s, n, &code);
        if (rc == 0) rc = read_glyph(f, r, code, rows, &width, &eof);
        if (rc == 1) {
            char what[32];
            rc = pf_fail("%s: line %d: file ends before the rows of tagged character %s",
                         r->name, r->line_no, code_text(code, what, sizeof what));
        }
        /* Code -1 is illegal in FIGfont 2; figlet skips such a character, and so do we. */
        if (rc == 0 && code != -1)
            glyph_push(f, &cap_glyphs, &cap_cells, &n_cells, code, width, rows);
    }
    free(rows);
    return rc;
}

int figfont_parse(FigFont *font, const char *name, const char *text, size_t len)
{
    memset(font, 0, sizeof *font);
    for (int i = 0; i < 256; i++) font->ascii_index[i] = -1;
    LineReader r = {name, text, text + len, 0};
    if (parse_header(font, &r) != 0 || parse_body(font, &r) != 0) {
        figfont_free(font);
        return -1;
    }

    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".flf") == 0) n -= 4;
    font->name = xmalloc(n + 1);
    memcpy(font->name, base, n);
    font->name[n] = '\0';
    return 0;
}

int figfont_load(FigFont *font, const char *path)
{
    memset(font, 0, sizeof *font);
    FILE *fp = fopen(path, "rb");
    if (!fp) return pf_fail("%s: cannot open: %s", path, strerror(errno));
    StrBuf buf = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        if (buf.len + got > FIG_MAX_FILE) {
            fclose(fp);
            strbuf_free(&buf);
            return pf_fail("%s: file is larger than %u bytes: not a FIGlet font", path,
                           FIG_MAX_FILE);
        }
        strbuf_append(&buf, chunk, got);
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        strbuf_free(&buf);
        return pf_fail("%s: read error", path);
    }
    int rc = figfont_parse(font, path, buf.data ? buf.data : "", buf.len);
    strbuf_free(&buf);
    return rc;
}

void figfont_free(FigFont *font)
{
    free(font->name);
    free(font->glyphs);
    free(font->cells);
    memset(font, 0, sizeof *font);
}

const FigGlyph *figfont_glyph(const FigFont *font, int32_t code)
{
    if (code >= 0 && code < 256) {
        int i = font->ascii_index[code];
        return i >= 0 ? &font->glyphs[i] : NULL;
    }
    for (size_t i = font->n_glyphs; i-- > 0;) {
        if (font->glyphs[i].code == code) return &font->glyphs[i];
    }
    return NULL;
}

bool figfont_glyph_visible(const FigFont *font, int32_t code)
{
    const FigGlyph *g = figfont_glyph(font, code);
    if (!g) return false;
    const char *c = font->cells + g->offset;
    for (size_t i = 0; i < (size_t)g->width * (size_t)font->height; i++) {
        if (c[i] != ' ' && c[i] != font->hardblank) return true;
    }
    return false;
}

/* The line being built: `height` rows of `len` columns each, // (height, cap) */
typedef struct Canvas {
    int height;
    size_t len, cap;
    char *cells;
} Canvas;

/* What the smushing rules need besides the two characters. */
typedef struct SmushState {
    int layout;
    char hardblank;
    bool right_to_left;
    int prev_width, cur_width; /* widths of the previous and the current character */
} SmushState;

static bool in_set(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

/* The character that replaces `lch` (left) and `rch` (right) when they overlap, or '\0' when
 * they cannot: figlet's smushem(). */
static char smush_chars(const SmushState *st, char lch, char rch)
{
    if (lch == ' ') return rch;
    if (rch == ' ') return lch;
    if (st->prev_width < 2 || st->cur_width < 2) return '\0';
    if (!(st->layout & FIG_LAYOUT_SMUSH)) return '\0';

    char hb = st->hardblank;
    if ((st->layout & 63) == 0) { /* universal smushing: the later character wins */
        if (lch == hb) return rch;
        if (rch == hb) return lch;
        return st->right_to_left ? lch : rch;
    }
    if ((st->layout & FIG_SMUSH_HARDBLANK) && lch == hb && rch == hb) return lch;
    if (lch == hb || rch == hb) return '\0';
    if ((st->layout & FIG_SMUSH_EQUAL) && lch == rch) return lch;
    if (st->layout & FIG_SMUSH_LOWLINE) {
        if (lch == '_' && in_set(rch, "|/\\[]{}()<>")) return rch;
        if (rch == '_' && in_set(lch, "|/\\[]{}()<>")) return lch;
    }
    if (st->layout & FIG_SMUSH_HIERARCHY) {
        static const char *const classes[] = {"|", "/\\", "[]", "{}", "()", "<>"};
        for (int i = 0; i < 5; i++) {
            for (int j = i + 1; j < 6; j++) {
                if (in_set(lch, classes[i]) && in_set(rch, classes[j])) return rch;
                if (in_set(rch, classes[i]) && in_set(lch, classes[j])) return lch;
            }
        }
    }
    if (st->layout & FIG_SMUSH_PAIR) {
        static const char *const pairs[] = {"[]", "{}", "()"};
        for (int i = 0; i < 3; i++) {
            char open = pairs[i][0], close = pairs[i][1];
            if ((lch == open && rch == close) || (lch == close && rch == open)) return '|';
        }
    }
    if (st->layout & FIG_SMUSH_BIGX) {
        if (lch == '/' && rch == '\\') return '|';
        if (lch == '\\' && rch == '/') return 'Y';
        if (lch == '>' && rch == '<') return 'X';
    }
    return '\0';
}

/* Cell of a row of `n` cells, '\0' past the end (figlet reads the string's terminator). */
static char cell_at(const char *row, size_t n, size_t i)
{
    return i < n ? row[i] : '\0';
}

/* How many columns the glyph may overlap the canvas: figlet's smushamt(). */
static size_t smush_amount(const SmushState *st, const Canvas *cv, const char *glyph, size_t w)
{
    if (!(st->layout & (FIG_LAYOUT_SMUSH | FIG_LAYOUT_KERN))) return 0;
    long best = (long)w;
    long len = (long)cv->len;
    for (int row = 0; row < cv->height; row++) {
        const char *out = cv->cells + (size_t)row * cv->cap;
        const char *g = glyph + (size_t)row * w;
        char ch1, ch2;
        long amt;
        if (st->right_to_left) {
            if (best > len) best = len;
            long cb = (long)w;
            while (ch1 = cell_at(g, w, (size_t)cb), cb > 0 && (!ch1 || ch1 == ' ')) cb--;
            long lb = 0;
            while (ch2 = cell_at(out, cv->len, (size_t)lb), ch2 == ' ') lb++;
            amt = lb + (long)w - 1 - cb;
        } else {
            long lb = len;
            while (ch1 = cell_at(out, cv->len, (size_t)lb), lb > 0 && (!ch1 || ch1 == ' ')) lb--;
            long cb = 0;
            while (ch2 = cell_at(g, w, (size_t)cb), ch2 == ' ') cb++;
            amt = cb + len - 1 - lb;
        }
        if (!ch1 || ch1 == ' ') amt++;
        else if (ch2 && smush_chars(st, ch1, ch2) != '\0') amt++;
        if (amt < best) best = amt;
    }
    return best < 0 ? 0 : (size_t)best;
}

/* Adds a glyph of width `w` to the canvas, overlapping `s` columns: figlet's addchar(). `tmp`
 * holds at least w bytes. The canvas has room for w more columns. */
static void canvas_add(const SmushState *st, Canvas *cv, const char *glyph, size_t w, size_t s,
                       char *tmp)
{
    for (int row = 0; row < cv->height; row++) {
        char *out = cv->cells + (size_t)row * cv->cap;
        const char *g = glyph + (size_t)row * w;
        if (st->right_to_left) { /* s <= len here: the glyph goes to the left of the line */
            memcpy(tmp, out, s);
            memmove(out + w, out + s, cv->len - s);
            memcpy(out, g, w);
            for (size_t k = 0; k < s; k++) {
                char c = smush_chars(st, g[w - s + k], tmp[k]);
                if (c) out[w - s + k] = c;
            }
        } else {
            for (size_t k = 0; k < s; k++) {
                long col = (long)cv->len - (long)s + (long)k;
                if (col < 0) col = 0;
                if ((size_t)col >= cv->len) continue; /* empty line: nothing to merge */
                char c = smush_chars(st, out[col], g[k]);
                if (c) out[col] = c;
            }
            memcpy(out + cv->len, g + s, w - s); /* the merged columns stay, the rest follows */
        }
    }
    cv->len = cv->len + w - s;
}

/* The glyph figlet draws for byte `c`: its own, else character 0, else NULL (nothing). */
static const FigGlyph *glyph_for(const FigFont *font, unsigned char c)
{
    if (c == '\t') c = ' ';
    const FigGlyph *g = figfont_glyph(font, c);
    return g ? g : figfont_glyph(font, 0);
}

static int check_text(const FigFont *font, const char *text, size_t *n)
{
    *n = strlen(text);
    if (*n > FIG_MAX_TEXT)
        return pf_fail("%s: text of %zu bytes is longer than the limit %d", font->name, *n,
                       FIG_MAX_TEXT);
    if (memchr(text, '\n', *n))
        return pf_fail("%s: text contains a newline; render one line at a time", font->name);
    return 0;
}

/* Lays out `n` bytes of text on a fresh canvas (free cv->cells afterwards). */
static void render_canvas(const FigFont *font, const unsigned char *text, size_t n, Canvas *cv)
{
    size_t cap = 1, max_w = 1;
    for (size_t i = 0; i < n; i++) {
        const FigGlyph *g = glyph_for(font, text[i]);
        size_t w = g ? (size_t)g->width : 0;
        cap += w;
        if (w > max_w) max_w = w;
    }
    cv->height = font->height;
    cv->len = 0;
    cv->cap = cap;
    cv->cells = xcalloc((size_t)font->height, cap);
    char *tmp = xmalloc(max_w);

    SmushState st = {font->layout, font->hardblank, font->print_direction == 1, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const FigGlyph *g = glyph_for(font, text[i]);
        size_t w = g ? (size_t)g->width : 0;
        st.prev_width = st.cur_width;
        st.cur_width = (int)w;
        if (w == 0) continue; /* nothing to add; figlet's smush amount is 0 as well */
        const char *cells = font->cells + g->offset;
        size_t s = smush_amount(&st, cv, cells, w);
        canvas_add(&st, cv, cells, w, s, tmp);
    }
    free(tmp);
}

/* Appends one row of the canvas to `out`, hardblanks as spaces. */
static void canvas_emit(const Canvas *cv, char hardblank, int row, StrBuf *out)
{
    const char *r = cv->cells + (size_t)row * cv->cap;
    for (size_t i = 0; i < cv->len; i++) {
        char c = r[i] == hardblank ? ' ' : r[i];
        strbuf_append(out, &c, 1);
    }
}

int figfont_render(const FigFont *font, const char *text, StrBuf *out)
{
    size_t n;
    if (check_text(font, text, &n) != 0) return -1;
    Canvas cv;
    render_canvas(font, (const unsigned char *)text, n, &cv);
    for (int row = 0; row < cv.height; row++) {
        canvas_emit(&cv, font->hardblank, row, out);
        strbuf_append(out, "\n", 1);
    }
    free(cv.cells);
    return 0;
}

int figfont_render_gapped(const FigFont *font, const char *text, int gap, StrBuf *out)
{
    size_t n;
    if (check_text(font, text, &n) != 0) return -1;
    if (gap < 0 || gap > 64) return pf_fail("%s: gap %d is not in 0..64", font->name, gap);
    Canvas *parts = xcalloc(n ? n : 1, sizeof *parts);
    for (size_t i = 0; i < n; i++)
        render_canvas(font, (const unsigned char *)text + i, 1, &parts[i]);
    for (int row = 0; row < font->height; row++) {
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                for (int k = 0; k < gap; k++) strbuf_append(out, " ", 1);
            }
            canvas_emit(&parts[i], font->hardblank, row, out);
        }
        strbuf_append(out, "\n", 1);
    }
    for (size_t i = 0; i < n; i++) free(parts[i].cells);
    free(parts);
    return 0;
}
