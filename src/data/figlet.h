/* FIGlet fonts (.flf, FIGfont version 2): a strict parser and a renderer that lays characters out
 * the way the figlet program (2.2.5) does with the font's default horizontal layout: full
 * width, fitting (kerning), or smushing by the six controlled rules or universal smushing. */
#ifndef PRIORFT_DATA_FIGLET_H
#define PRIORFT_DATA_FIGLET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Horizontal layout bits of a font's full_layout (and of the figlet program's smush mode). */
enum {
    FIG_SMUSH_EQUAL = 1,      /* rule 1: equal characters */
    FIG_SMUSH_LOWLINE = 2,    /* rule 2: '_' gives way to |/\[]{}()<> */
    FIG_SMUSH_HIERARCHY = 4,  /* rule 3: | < /\ < [] < {} < () < <> */
    FIG_SMUSH_PAIR = 8,       /* rule 4: opposite brackets become '|' */
    FIG_SMUSH_BIGX = 16,      /* rule 5: /\ -> |, \/ -> Y, >< -> X */
    FIG_SMUSH_HARDBLANK = 32, /* rule 6: two hardblanks become one */
    FIG_LAYOUT_KERN = 64,     /* fitting: move characters together until they touch */
    FIG_LAYOUT_SMUSH = 128,   /* smushing: overlap one column more where the rules allow */
};

typedef struct FigGlyph {
    int32_t code;  /* character code (Latin-1 / Unicode value) */
    int width;     /* columns, the same on every row */
    size_t offset; /* into FigFont.cells: height rows of width bytes, // (height, width) */
} FigGlyph;

typedef struct FigFont {
    char *name;          /* file name without folder and ".flf" */
    char hardblank;      /* drawn as a space, but never smushed away like one */
    int height;          /* rows of every character */
    int baseline;        /* rows from the top to the baseline */
    int max_length;      /* longest line the header promises (informational) */
    int old_layout;      /* -1 full width, 0 kerning, 1..63 smushing rules */
    int comment_lines;
    int print_direction; /* 0 left to right, 1 right to left */
    int full_layout;     /* -1 when the header omits it */
    int layout;          /* effective horizontal layout bits (see the enum above) */
    FigGlyph *glyphs;
    size_t n_glyphs;
    char *cells;         /* glyph rows, hardblanks kept */
    int ascii_index[256]; /* glyph index per code 0..255, -1 when absent */
} FigFont;

/* Parses .flf text of `len` bytes (need not be NUL-terminated). `name` is used for the font's
 * name and, with a line number, in every error message. Requires the header, the comment block,
 * the 95 ASCII characters 32..126; the 7 German characters may be absent (file ends there);
 * code-tagged characters follow. Refuses malformed headers, truncated files, rows without
 * endmarks, rows of a character that differ in width, and characters with too few or too many
 * rows (seen through the doubled endmark that must end each character). 0 or -1. */
int figfont_parse(FigFont *font, const char *name, const char *text, size_t len);

/* Reads and parses a .flf file; errors name the path and line. 0 or -1. */
int figfont_load(FigFont *font, const char *path);

void figfont_free(FigFont *font);

/* The glyph for a code, or NULL when the font lacks it (a later definition wins). */
const FigGlyph *figfont_glyph(const FigFont *font, int32_t code);

/* True when the glyph exists and has at least one visible (non-blank) cell. */
bool figfont_glyph_visible(const FigFont *font, int32_t code);

/* Renders one line of text (bytes taken as Latin-1 codes; tabs count as spaces) with the
 * font's default layout, exactly as `figlet -w 1000 -f FONT TEXT` does: `height` lines, each
 * ending in '\n', hardblanks turned into spaces, trailing spaces kept. A character the font
 * lacks is drawn as the font's character 0 if it has one, else as nothing (as figlet does).
 * Appends to `out`. Refuses text with a newline or longer than 4096 bytes. 0 or -1. */
int figfont_render(const FigFont *font, const char *text, StrBuf *out);

/* Renders each character of `text` on its own (as figfont_render would render it alone) and
 * joins them side by side with `gap` columns of spaces between them. Appends `height` lines
 * ending in '\n' to `out`. 0 or -1. */
int figfont_render_gapped(const FigFont *font, const char *text, int gap, StrBuf *out);

#endif
