/* FIGlet font parser and renderer: hand-worked smushing cases on a small made-up font, the
 * standard font against a rendering checked by hand, every shared font renders A-Z at its
 * height, malformed fonts are refused with the line at fault, truncations never crash, and
 * (when the figlet program is installed) byte-for-byte agreement with it. */
/* ctest-labels: sanitize */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/figlet.h"
#include "util/buf.h"
#include "util/error.h"
#include "testutil.h"

/* A made-up font: `height` rows, every character a block of its own letter except the
 * overrides ("c=glyph" rows separated by '~' for height > 1), endmark '@', hardblank '$'. */
static char *make_font(int height, const char *layout_fields, const char *const *overrides,
                       int n_overrides, int comment_lines)
{
    StrBuf b = {0};
    strbuf_printf(&b, "flf2a$ %d %d 10 %s\n", height, height, layout_fields);
    for (int i = 0; i < comment_lines; i++) strbuf_printf(&b, "comment %d\n", i);
    for (int code = 32; code <= 126; code++) {
        const char *glyph = NULL;
        for (int k = 0; k < n_overrides; k++)
            if (overrides[k][0] == code) glyph = overrides[k] + 2;
        for (int row = 0; row < height; row++) {
            const char *marks = row == height - 1 ? "@@" : "@";
            if (glyph) {
                const char *end = strchr(glyph, '~');
                size_t n = end ? (size_t)(end - glyph) : strlen(glyph);
                strbuf_append(&b, glyph, n);
                glyph = end ? end + 1 : glyph + n;
            } else {
                strbuf_printf(&b, "%c%c", code == '@' ? '*' : code, code == '@' ? '*' : code);
            }
            strbuf_printf(&b, "%s\n", marks);
        }
    }
    return b.data;
}

/* Glyphs of the made-up height-1 font used for the rule cases below. */
static const char *const rule_glyphs[] = {
    "a=x_", "b=|y", "e=e]", "f=[f", "g=g/", "h=\\h", "i=i>", "j=<j", "k=k#", "l=#l",
    "m=m|", "n={n", "o=o$", "q=$q", "r=r ", "s= s", "t=t",
};
#define N_RULE_GLYPHS ((int)(sizeof rule_glyphs / sizeof rule_glyphs[0]))

/* Renders `text` with the made-up font and the given header layout fields; returns the single
 * line without its '\n' (static buffer). */
static const char *render_rule(const char *layout_fields, const char *text)
{
    static char line[256];
    char *src = make_font(1, layout_fields, rule_glyphs, N_RULE_GLYPHS, 0);
    FigFont f;
    assert_int_equal(figfont_parse(&f, "rules.flf", src, strlen(src)), 0);
    StrBuf out = {0};
    assert_int_equal(figfont_render(&f, text, &out), 0);
    assert_true(out.len >= 1 && out.data[out.len - 1] == '\n');
    snprintf(line, sizeof line, "%.*s", (int)out.len - 1, out.data);
    strbuf_free(&out);
    figfont_free(&f);
    free(src);
    return line;
}

static void test_smushing_rules_by_hand(void **state)
{
    (void)state;
    /* Controlled smushing, all six rules ("-1 0 0 191": old_layout, comments, direction,
     * full_layout = 128 + 63). Each pair meets where the left glyph's last visible character
     * touches the right glyph's first; one more column overlaps when a rule merges them. */
    const char *rules = "-1 0 0 191";
    assert_string_equal(render_rule(rules, "ab"), "x|y");  /* rule 2: '_' gives way to '|' */
    assert_string_equal(render_rule(rules, "ef"), "e|f");  /* rule 4: "][" becomes '|' */
    assert_string_equal(render_rule(rules, "gh"), "g|h");  /* rule 5: "/\" becomes '|' */
    assert_string_equal(render_rule(rules, "ij"), "iXj");  /* rule 5: "><" becomes 'X' */
    assert_string_equal(render_rule(rules, "kl"), "k#l");  /* rule 1: equal characters */
    assert_string_equal(render_rule(rules, "mn"), "m{n");  /* rule 3: '{' outranks '|' */
    assert_string_equal(render_rule(rules, "kf"), "k#[f"); /* no rule: they only touch */
    assert_string_equal(render_rule(rules, "oq"), "o q");  /* rule 6: hardblanks merge */
    assert_string_equal(render_rule(rules, "of"), "o [f"); /* hardblank blocks smushing */
    assert_string_equal(render_rule(rules, "rs"), "rs");   /* blanks overlap fully */
    assert_string_equal(render_rule(rules, "tl"), "t#l");  /* width 1 never smushes */
    /* Rule 1 only: '_' and '|' just touch; two hardblanks stay two spaces. */
    assert_string_equal(render_rule("-1 0 0 129", "ab"), "x_|y");
    assert_string_equal(render_rule("-1 0 0 129", "oq"), "o  q");
    /* Universal smushing (128 alone): the later character wins, hardblanks give way. */
    assert_string_equal(render_rule("-1 0 0 128", "kf"), "k[f");
    assert_string_equal(render_rule("-1 0 0 128", "of"), "o[f");
    /* Kerning (64), and the same from the old layout 0 when full_layout is absent. */
    assert_string_equal(render_rule("-1 0 0 64", "ab"), "x_|y");
    assert_string_equal(render_rule("0 0", "rs"), "rs");
    assert_string_equal(render_rule("0 0", "ab"), "x_|y");
    /* Full width (old layout -1, no full_layout): glyphs side by side. */
    assert_string_equal(render_rule("-1 0", "rs"), "r  s");
    /* Old layout 15 without full_layout means smushing with rules 1-4. */
    assert_string_equal(render_rule("15 0", "ab"), "x|y");
    /* Right to left: the later glyph goes to the left; 'y' and 'x' only touch. */
    assert_string_equal(render_rule("-1 0 1 191", "ab"), "|yx_");
}

/* The standard font from ../shared, or NULL (the caller skips). */
static int load_shared_font(const char *file, FigFont *f)
{
    char rel[256];
    snprintf(rel, sizeof rel, "data/figlet/fonts/%s", file);
    const char *path = shared_path(rel);
    if (!path) return -1;
    assert_int_equal(figfont_load(f, path), 0);
    return 0;
}

static void test_standard_font_hand_checked(void **state)
{
    (void)state;
    FigFont f;
    if (load_shared_font("standard.flf", &f) != 0) {
        skip(); /* ../shared/data/figlet/fonts/standard.flf is absent */
        return;
    }
    assert_int_equal(f.height, 6);
    assert_int_equal(f.layout, 24463 & 255);
    /* Written out by hand, then checked against `figlet -w 1000 -f standard.flf HELLO` (FIGlet
     * 2.2.5): '|' pairs merge by rule 1 ("| |" of H and "|" of E share a column), and "L" +
     * "O" meet at "__/" where '_' gives way to '\' (rule 2). */
    const char *hello =
        " _   _ _____ _     _     ___  \n"
        "| | | | ____| |   | |   / _ \\ \n"
        "| |_| |  _| | |   | |  | | | |\n"
        "|  _  | |___| |___| |__| |_| |\n"
        "|_| |_|_____|_____|_____\\___/ \n"
        "                              \n";
    StrBuf out = {0};
    assert_int_equal(figfont_render(&f, "HELLO", &out), 0);
    assert_string_equal(out.data, hello);
    strbuf_free(&out);

    /* The reference puzzles' spacing, "H E L L O": the space glyph keeps the letters apart,
     * checked the same way against the figlet program. */
    const char *spaced =
        " _   _   _____   _       _        ___  \n"
        "| | | | | ____| | |     | |      / _ \\ \n"
        "| |_| | |  _|   | |     | |     | | | |\n"
        "|  _  | | |___  | |___  | |___  | |_| |\n"
        "|_| |_| |_____| |_____| |_____|  \\___/ \n"
        "                                       \n";
    assert_int_equal(figfont_render(&f, "H E L L O", &out), 0);
    assert_string_equal(out.data, spaced);
    strbuf_free(&out);

    /* Gapped: each letter alone (H is "| | | |" wide 7, I is "|_|" 3), two spaces between. */
    assert_int_equal(figfont_render_gapped(&f, "HI", 2, &out), 0);
    const char *hi = " _   _    ___ \n"
                     "| | | |  |_ _|\n"
                     "| |_| |   | | \n"
                     "|  _  |   | | \n"
                     "|_| |_|  |___|\n"
                     "              \n";
    assert_string_equal(out.data, hi);
    strbuf_free(&out);
    figfont_free(&f);
}

/* Every row of a rendering has the same width; returns the number of rows. */
static int count_rows(const char *s, size_t *width)
{
    int rows = 0;
    size_t w = (size_t)-1;
    for (const char *p = s; *p;) {
        const char *nl = strchr(p, '\n');
        assert_non_null(nl);
        if (w == (size_t)-1) w = (size_t)(nl - p);
        assert_int_equal((size_t)(nl - p), w);
        rows++;
        p = nl + 1;
    }
    *width = w;
    return rows;
}

static void test_every_shared_font_renders(void **state)
{
    (void)state;
    const char *dir = shared_path("data/figlet/fonts");
    if (!dir) {
        skip(); /* ../shared/data/figlet/fonts is absent */
        return;
    }
    char dir_copy[4096];
    snprintf(dir_copy, sizeof dir_copy, "%s", dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls %s/*.flf", dir_copy);
    FILE *ls = popen(cmd, "r");
    assert_non_null(ls);
    char path[4096];
    int n_fonts = 0;
    while (fgets(path, sizeof path, ls)) {
        path[strcspn(path, "\n")] = '\0';
        FigFont f;
        if (figfont_load(&f, path) != 0) fail_msg("%s", pf_error());
        const char *texts[2] = {"HELLO", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"};
        for (int t = 0; t < 2; t++) {
            StrBuf out = {0};
            assert_int_equal(figfont_render(&f, texts[t], &out), 0);
            size_t width;
            assert_int_equal(count_rows(out.data, &width), f.height);
            assert_true(width > 0);
            strbuf_free(&out);
        }
        figfont_free(&f);
        n_fonts++;
    }
    pclose(ls);
    assert_int_equal(n_fonts, 66);
}

/* Parses `src` and expects failure with a message containing `needle`. */
static void expect_refused(const char *src, size_t len, const char *needle)
{
    FigFont f;
    assert_int_equal(figfont_parse(&f, "bad.flf", src, len), -1);
    if (!strstr(pf_error(), needle)) fail_msg("message '%s' lacks '%s'", pf_error(), needle);
    assert_non_null(strstr(pf_error(), "bad.flf"));
}

/* Line number (1-based) of the first row of character `code` in a make_font text. */
static int first_row_line(int height, int comment_lines, int code)
{
    return 2 + comment_lines + (code - 32) * height;
}

/* Removes line `line_no` (1-based) from `src` in place. */
static void drop_line(char *src, int line_no)
{
    char *p = src;
    for (int i = 1; i < line_no; i++) p = strchr(p, '\n') + 1;
    char *next = strchr(p, '\n') + 1;
    memmove(p, next, strlen(next) + 1);
}

/* Pointer to the start of line `line_no` (1-based). */
static char *line_at(char *src, int line_no)
{
    char *p = src;
    for (int i = 1; i < line_no; i++) p = strchr(p, '\n') + 1;
    return p;
}

static void test_malformed_fonts_refused_with_line(void **state)
{
    (void)state;
    char msg[128];
    char *good = make_font(3, "0 2", NULL, 0, 2);
    FigFont f;
    assert_int_equal(figfont_parse(&f, "good.flf", good, strlen(good)), 0);
    assert_int_equal(f.n_glyphs, 95);
    assert_non_null(figfont_glyph(&f, 'A'));
    assert_null(figfont_glyph(&f, 196));
    figfont_free(&f);

    expect_refused("flx2a$ 3 3 10 0 2\n", 18, "line 1");
    expect_refused("flf2a$ three 3 10 0 2\n", 22, "'height'");
    expect_refused("flf2a$ 3 3 10 0\n", 16, "comment_lines");
    expect_refused("flf2a$ 3 9 10 0 0\n", 18, "baseline");
    expect_refused("", 0, "line 1");

    /* Comment block cut short: the header promises 2 comment lines, the file has 1. */
    expect_refused("flf2a$ 3 3 10 0 2\nonly one\n", 27, "line 3");

    /* Truncated inside 'A' after its first row. */
    int a_line = first_row_line(3, 2, 'A');
    char *cut = line_at(good, a_line + 1);
    snprintf(msg, sizeof msg, "line %d", a_line + 1);
    expect_refused(good, (size_t)(cut - good), msg);

    /* Truncated at a character boundary before 'A': required characters are missing. */
    cut = line_at(good, a_line);
    expect_refused(good, (size_t)(cut - good), "required character 'A'");

    /* Wrong endmark: 'B''s last row ends in a single '@'. */
    char *src = strdup(good);
    int b_last = first_row_line(3, 2, 'B') + 2;
    char *p = strchr(line_at(src, b_last), '\n');
    p[-1] = ' ';
    snprintf(msg, sizeof msg, "line %d", b_last);
    expect_refused(src, strlen(src), msg);
    free(src);

    /* A character with a row too few: 'C''s doubled endmark turns up on its second row. */
    src = strdup(good);
    int c_line = first_row_line(3, 2, 'C');
    drop_line(src, c_line);
    snprintf(msg, sizeof msg, "line %d", c_line + 1);
    expect_refused(src, strlen(src), msg);
    free(src);

    /* A row narrower than the character's first row. */
    src = strdup(good);
    int d_line = first_row_line(3, 2, 'D') + 1;
    p = line_at(src, d_line);
    memmove(p, p + 1, strlen(p + 1) + 1);
    snprintf(msg, sizeof msg, "line %d", d_line);
    expect_refused(src, strlen(src), msg);
    free(src);

    /* A row with no endmark at all (blank line inside a character). */
    src = strdup(good);
    p = line_at(src, d_line);
    memcpy(p, "   ", 3);
    snprintf(msg, sizeof msg, "line %d", d_line);
    expect_refused(src, strlen(src), msg);
    free(src);

    /* The 7 German characters, a tagged character, then a bad code tag. */
    StrBuf b = {0};
    strbuf_puts(&b, good);
    for (int i = 0; i < 7; i++) strbuf_puts(&b, "ab@\nab@\nab@@\n");
    strbuf_puts(&b, "0x100 comment\nxy@\nxy@\nxy@@\n");
    assert_int_equal(figfont_parse(&f, "good.flf", b.data, b.len), 0);
    assert_int_equal(figfont_glyph(&f, 256)->width, 2);
    assert_int_equal(figfont_glyph(&f, 223)->width, 2);
    figfont_free(&f);
    int total_lines = 1 + 2 + 102 * 3 + 4;
    strbuf_puts(&b, "zz not-a-code\n");
    snprintf(msg, sizeof msg, "line %d", total_lines + 1);
    expect_refused(b.data, b.len, msg);
    strbuf_free(&b);

    /* A NUL byte. */
    src = strdup(good);
    size_t len = strlen(src);
    src[strlen("flf2a$ 3 3 10 0 2\n") + 3] = '\0';
    expect_refused(src, len, "line 2");
    free(src);
    free(good);
}

/* The standard font cut at many offsets: each cut parses or fails with a message, never
 * crashes (this test runs under ASan+UBSan); a cut between the 95th required character and
 * the German ones parses. */
static void test_truncated_standard_font(void **state)
{
    (void)state;
    const char *path = shared_path("data/figlet/fonts/standard.flf");
    if (!path) {
        skip(); /* ../shared/data/figlet/fonts/standard.flf is absent */
        return;
    }
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text, fp);
    fclose(fp);
    int ok = 0, refused = 0;
    for (size_t cut = 0; cut < n; cut += 37) {
        FigFont f;
        if (figfont_parse(&f, "standard.flf", text, cut) == 0) {
            ok++;
            figfont_free(&f);
        } else {
            refused++;
            assert_non_null(strstr(pf_error(), "standard.flf: line "));
        }
    }
    assert_true(refused > 0);
    assert_true(ok > 0); /* cuts past the required characters still give a font */

    /* Header 46 comment lines; '~' (126) ends at line 1 + 46 + 95 * 6 = 617. */
    const char *p = text;
    for (int i = 0; i < 617; i++) p = strchr(p, '\n') + 1;
    FigFont f;
    assert_int_equal(figfont_parse(&f, "standard.flf", text, (size_t)(p - text)), 0);
    assert_int_equal(f.n_glyphs, 95);
    figfont_free(&f);
    /* One line less: '~' is cut after its fifth row, at line 617. */
    p = text;
    for (int i = 0; i < 616; i++) p = strchr(p, '\n') + 1;
    assert_int_equal(figfont_parse(&f, "standard.flf", text, (size_t)(p - text)), -1);
    assert_non_null(strstr(pf_error(), "standard.flf: line 617: file ends inside character '~'"));
}

/* Runs the figlet program (when installed) on each shared font and compares bytes. */
static void test_matches_figlet_program(void **state)
{
    (void)state;
    const char *dir = shared_path("data/figlet/fonts");
    if (!dir || system("command -v figlet >/dev/null 2>&1") != 0) {
        skip(); /* needs ../shared/data/figlet/fonts and the figlet program (Debian figlet) */
        return;
    }
    char dir_copy[4096], cmd[8400], path[4096];
    snprintf(dir_copy, sizeof dir_copy, "%s", dir);
    snprintf(cmd, sizeof cmd, "ls %s/*.flf", dir_copy);
    FILE *ls = popen(cmd, "r");
    assert_non_null(ls);
    const char *texts[3] = {"H E L L O", "Quick [brown] {fox} (jumps) <over> /\\_|", "ZQXJ"};
    int compared = 0;
    while (fgets(path, sizeof path, ls)) {
        path[strcspn(path, "\n")] = '\0';
        FigFont f;
        assert_int_equal(figfont_load(&f, path), 0);
        for (int t = 0; t < 3; t++) {
            /* -l: figlet right-aligns right-to-left fonts (ivrit) otherwise. */
            snprintf(cmd, sizeof cmd, "figlet -l -w 1000 -f '%s' -- '%s'", path, texts[t]);
            FILE *fig = popen(cmd, "r");
            assert_non_null(fig);
            StrBuf want = {0}, got = {0};
            char chunk[4096];
            size_t k;
            while ((k = fread(chunk, 1, sizeof chunk, fig)) > 0) strbuf_append(&want, chunk, k);
            assert_int_equal(pclose(fig), 0);
            assert_int_equal(figfont_render(&f, texts[t], &got), 0);
            if (strcmp(want.data, got.data) != 0)
                fail_msg("%s '%s':\nfiglet:\n%s\npriorft:\n%s", path, texts[t], want.data,
                         got.data);
            strbuf_free(&want);
            strbuf_free(&got);
            compared++;
        }
        figfont_free(&f);
    }
    pclose(ls);
    assert_int_equal(compared, 66 * 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smushing_rules_by_hand),
        cmocka_unit_test(test_standard_font_hand_checked),
        cmocka_unit_test(test_every_shared_font_renders),
        cmocka_unit_test(test_malformed_fonts_refused_with_line),
        cmocka_unit_test(test_truncated_standard_font),
        cmocka_unit_test(test_matches_figlet_program),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
