/* Figlet-decoding puzzles, as in reasoning-gym's `figlet_font` data set (the "model-weak" task
 * of the prior-trust experiments): an uppercase word drawn in a FIGlet font, letters spaced,
 * asked back with one of the reference question wordings; the answer is the word. */
#ifndef PRIORFT_DATA_FIGLET_PUZZLES_H
#define PRIORFT_DATA_FIGLET_PUZZLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "data/figlet.h"
#include "util/buf.h"
#include "util/rng.h"

/* Words of 2..5 letters by default, the published model-weak task's short words (reasoning-gym's
 * own FigletFontConfig default is 3..7: pass --min-len 3 --max-len 7 for it); letters spaced. */
#define FIGLET_DEFAULT_MIN_LEN 2
#define FIGLET_DEFAULT_MAX_LEN 5

typedef enum { FIGLET_SPLIT_ALL = 0, FIGLET_SPLIT_TRAIN, FIGLET_SPLIT_TEST } FigletSplit;

typedef struct FigletPuzzleConfig {
    const char *fonts_dir;     /* folder of .flf files */
    const char *words_path;    /* one word a line */
    const char *exclude_path;  /* optional: words (any case) never to use */
    int min_len, max_len;      /* letters per word, inclusive */
    FigletSplit split;         /* train/test: a fixed hash partition of the words (1 in 10 test) */
    bool space_letters;        /* render "W O R D" as the reference does (default true) */
} FigletPuzzleConfig;

/* Fonts and words ready for drawing puzzles. */
typedef struct FigletPuzzleSet {
    FigFont *fonts;            /* sorted by name; reference-excluded fonts and fonts lacking a
                                * visible glyph for some letter A-Z are left out */
    size_t n_fonts;
    size_t n_fonts_skipped;
    char **words;              /* uppercase, distinct, in file order */
    size_t n_words;
    bool space_letters;
} FigletPuzzleSet;

typedef struct FigletPuzzle {
    char *question; /* the prompt, with the rendering */
    char *answer;   /* the uppercase word */
    const char *font; /* font name, owned by the set */
    char *word;     /* same as answer (kept as its own field for the JSONL) */
} FigletPuzzle;

/* Fills a config with the reference defaults (fonts/words paths left NULL). */
void figlet_config_defaults(FigletPuzzleConfig *cfg);

/* True for fonts the reference generator excludes as unreadable (e.g. "term", "mnemonic"). */
bool figlet_font_excluded(const char *name);

/* Which split a word belongs to: FIGLET_SPLIT_TEST for 1 word in 10 by a fixed hash of its
 * uppercase letters (independent of seeds), FIGLET_SPLIT_TRAIN otherwise. */
FigletSplit figlet_word_split(const char *upper_word);

/* Loads the fonts and the word list: words kept are ASCII letters only, within the length range,
 * in the requested split and not excluded. Errors (no usable fonts or words, unreadable files,
 * malformed fonts) name the file. 0 or -1; free with figlet_set_free. */
int figlet_set_load(FigletPuzzleSet *set, const FigletPuzzleConfig *cfg);
void figlet_set_free(FigletPuzzleSet *set);

/* Draws one puzzle: word, font and wording from `rng`, in that order. 0 or -1. */
int figlet_puzzle_make(const FigletPuzzleSet *set, Rng *rng, FigletPuzzle *out);
void figlet_puzzle_free(FigletPuzzle *p);

/* Appends the puzzle as one JSON line {"question","answer","font","word"} and '\n'. 0 or -1. */
int figlet_puzzle_to_jsonl(const FigletPuzzle *p, StrBuf *out);

/* Writes `count` puzzles drawn with `seed` to `out_path` as JSONL (same inputs and seed give
 * identical bytes) and, when `words_out_path` is set, the distinct words used, one a line, for
 * a later run's exclude list. `n_distinct` (optional) receives that number. 0 or -1. */
int figlet_puzzles_write(const FigletPuzzleSet *set, size_t count, uint64_t seed,
                         const char *out_path, const char *words_out_path, size_t *n_distinct);

#endif
