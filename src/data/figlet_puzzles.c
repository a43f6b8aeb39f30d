/* Figlet-decoding puzzle generation (see figlet_puzzles.h): word list filtering, font loading,
 * seeded drawing of (word, font, wording), JSONL output. */
#include "data/figlet_puzzles.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* Fonts that reasoning-gym's figlet_font generator leaves out as too odd to read (its
 * BAD_FONTS list); of the 66 standard fonts this drops courb, ivrit, mnemonic and term. */
static const char *const excluded_fonts[] = {
    "pyramid", "runyc", "assalt_m", "term", "tengwar", "heart_right", "faces_of", "heroboti",
    "hieroglyphs", "rainbow_", "notie_ca", "ghost", "rampage_", "atc_____", "pacos_pe",
    "mad_nurs", "icl-1900", "joust___", "dcs_bfmo", "letter_w", "flyn_sh", "fun_face", "morse2",
    "tecrvs__", "ntgreek", "tsalagi", "etcrvs__", "future_8", "efti_robot", "danc4",
    "p_s_h_m_", "smkeyboard", "konto", "odel_lak", "courb", "jerusalem", "nfi1____", "keyboard",
    "konto_slant", "rot13", "mirror", "katakana", "cards", "eftichess", "heart_left",
    "trashman", "morse", "eftipiti", "smtengwar", "e__fist_", "mike", "bear", "hills___",
    "rotated", "wow", "relief2", "mshebrew210", "kik_star", "puzzle", "p_skateb", "hypa_bal",
    "tomahawk", "timesofl", "moscow", "cola", "baz__bil", "stencil1", "battlesh", "tsn_base",
    "kgames_i", "binary", "greek", "mnemonic", "panther_", "b1ff", "c_consen",
    "horizontal_right", "dwhistled", "hex", "flipped", "high_noo", "patorjk-hex", "amc_3_liv1",
    "gauntlet", "cybersmall", "octal", "js_cursive", "battle_s", "deep_str", "rally_s2",
    "convoy__", "atc_gran", "grand_pr", "ivrit", "rammstein", "horizontal_left", "eftiwall",
    "decimal", "goofy", "subteran", "rally_sp", "charset_",
};

/* The reference's two question wordings; the rendering follows a blank line. */
static const char *const question_prefixes[] = {
    "What word does this say?\n\n",
    "Please read the following figlet font:\n\n",
};

void figlet_config_defaults(FigletPuzzleConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->min_len = FIGLET_DEFAULT_MIN_LEN;
    cfg->max_len = FIGLET_DEFAULT_MAX_LEN;
    cfg->split = FIGLET_SPLIT_ALL;
    cfg->space_letters = true;
}

bool figlet_font_excluded(const char *name)
{
    for (size_t i = 0; i < sizeof excluded_fonts / sizeof excluded_fonts[0]; i++) {
        if (strcmp(name, excluded_fonts[i]) == 0) return true;
    }
    return false;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

FigletSplit figlet_word_split(const char *upper_word)
{
    return fnv1a(upper_word) % 10 == 0 ? FIGLET_SPLIT_TEST : FIGLET_SPLIT_TRAIN;
}

/* A set of strings (open addressing; the strings are borrowed). */
typedef struct WordSet {
    const char **slots;
    size_t cap, n;
} WordSet;

static bool wordset_add(WordSet *ws, const char *w)
{
    if (2 * (ws->n + 1) > ws->cap) {
        WordSet bigger = {xcalloc(ws->cap ? 2 * ws->cap : 1024, sizeof(char *)),
                          ws->cap ? 2 * ws->cap : 1024, 0};
        for (size_t i = 0; i < ws->cap; i++)
            if (ws->slots[i]) wordset_add(&bigger, ws->slots[i]);
        free(ws->slots);
        *ws = bigger;
    }
    size_t i = fnv1a(w) & (ws->cap - 1);
    while (ws->slots[i]) {
        if (strcmp(ws->slots[i], w) == 0) return false;
        i = (i + 1) & (ws->cap - 1);
    }
    ws->slots[i] = w;
    ws->n++;
    return true;
}

static bool wordset_has(const WordSet *ws, const char *w)
{
    if (ws->cap == 0) return false;
    size_t i = fnv1a(w) & (ws->cap - 1);
    while (ws->slots[i]) {
        if (strcmp(ws->slots[i], w) == 0) return true;
        i = (i + 1) & (ws->cap - 1);
    }
    return false;
}

/* Reads a word file into uppercase words of ASCII letters (other lines are skipped); `lines`
 * receives the malloc'ed words. Blank lines and surrounding whitespace are ignored. */
static int read_words(const char *path, char ***lines, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return pf_fail("%s: cannot open word list: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, n_alloc = 0;
    ssize_t got;
    *lines = NULL;
    *n = 0;
    while ((got = getline(&line, &cap, fp)) >= 0) {
        size_t a = 0, b = (size_t)got;
        while (a < b && isspace((unsigned char)line[a])) a++;
        while (b > a && isspace((unsigned char)line[b - 1])) b--;
        bool letters = b > a && b - a <= 64;
        for (size_t i = a; i < b && letters; i++) letters = isalpha((unsigned char)line[i]) &&
                                                            (unsigned char)line[i] < 128;
        if (!letters) continue;
        if (*n == n_alloc) {
            n_alloc = n_alloc ? 2 * n_alloc : 1024;
            *lines = xrealloc(*lines, n_alloc * sizeof **lines);
        }
        char *w = xmalloc(b - a + 1);
        for (size_t i = a; i < b; i++) w[i - a] = (char)toupper((unsigned char)line[i]);
        w[b - a] = '\0';
        (*lines)[(*n)++] = w;
    }
    free(line);
    int bad = ferror(fp);
    fclose(fp);
    if (bad) return pf_fail("%s: read error", path);
    return 0;
}

static void free_words(char **words, size_t n)
{
    for (size_t i = 0; i < n; i++) free(words[i]);
    free(words);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every .flf of the folder (sorted by file name) that is not excluded and draws A-Z. */
static int load_fonts(FigletPuzzleSet *set, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return pf_fail("%s: cannot open fonts folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 4 || strcmp(e->d_name + len - 4, ".flf") != 0) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n > 0) qsort(names, n, sizeof *names, cmp_str);

    int rc = 0;
    set->fonts = xcalloc(n ? n : 1, sizeof *set->fonts);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FigFont *f = &set->fonts[set->n_fonts];
        if (figfont_load(f, path) != 0) {
            rc = -1;
            break;
        }
        bool usable = !figlet_font_excluded(f->name);
        for (int c = 'A'; c <= 'Z' && usable; c++) usable = figfont_glyph_visible(f, c);
        if (usable) {
            set->n_fonts++;
        } else {
            figfont_free(f);
            set->n_fonts_skipped++;
        }
    }
    free_words(names, n);
    if (rc == 0 && set->n_fonts == 0)
        rc = pf_fail("%s: no usable .flf fonts (found %zu, all excluded or unreadable)", dir, n);
    return rc;
}

static int load_words(FigletPuzzleSet *set, const FigletPuzzleConfig *cfg)
{
    char **all = NULL, **excl = NULL;
    size_t n_all = 0, n_excl = 0;
    WordSet excluded = {0}, seen = {0};
    int rc = read_words(cfg->words_path, &all, &n_all);
    if (rc == 0 && cfg->exclude_path) rc = read_words(cfg->exclude_path, &excl, &n_excl);
    for (size_t i = 0; i < n_excl; i++) wordset_add(&excluded, excl[i]);

    set->words = xcalloc(n_all ? n_all : 1, sizeof *set->words);
    for (size_t i = 0; i < n_all && rc == 0; i++) {
        const char *w = all[i];
        int len = (int)strlen(w);
        if (len < cfg->min_len || len > cfg->max_len) continue;
        if (cfg->split != FIGLET_SPLIT_ALL && figlet_word_split(w) != cfg->split) continue;
        if (wordset_has(&excluded, w) || !wordset_add(&seen, w)) continue;
        set->words[set->n_words++] = xstrdup(w);
    }
    if (rc == 0 && set->n_words == 0)
        rc = pf_fail("%s: no words of %d..%d ASCII letters left (of %zu read) after the split "
                     "and exclusions", cfg->words_path, cfg->min_len, cfg->max_len, n_all);
    free(excluded.slots);
    free(seen.slots);
    free_words(all, n_all);
    free_words(excl, n_excl);
    return rc;
}

int figlet_set_load(FigletPuzzleSet *set, const FigletPuzzleConfig *cfg)
{
    memset(set, 0, sizeof *set);
    set->space_letters = cfg->space_letters;
    if (!cfg->fonts_dir || !cfg->words_path)
        return pf_fail("figlet puzzles: a fonts folder and a word list are required");
    if (cfg->min_len < 1 || cfg->max_len < cfg->min_len || cfg->max_len > 64)
        return pf_fail("figlet puzzles: word lengths %d..%d are not a range within 1..64",
                       cfg->min_len, cfg->max_len);
    if (load_fonts(set, cfg->fonts_dir) != 0 || load_words(set, cfg) != 0) {
        figlet_set_free(set);
        return -1;
    }
    return 0;
}

void figlet_set_free(FigletPuzzleSet *set)
{
    for (size_t i = 0; i < set->n_fonts; i++) figfont_free(&set->fonts[i]);
    free(set->fonts);
    free_words(set->words, set->n_words);
    memset(set, 0, sizeof *set);
}

/* TODO: the reference renders with pyfiglet's default width of 80 columns, which wraps wide
 * renderings onto a second band of rows; we never wrap (as `figlet -w 1000`). With the 66
 * standard fonts and 3..7-letter words about 10-15% of puzzles are wider than 79 columns and
 * so differ in layout (not in content) from the reference's. */
int figlet_puzzle_make(const FigletPuzzleSet *set, Rng *rng, FigletPuzzle *out)
{
    memset(out, 0, sizeof *out);
    const char *word = set->words[rng_below(rng, set->n_words)];
    const FigFont *font = &set->fonts[rng_below(rng, set->n_fonts)];
    const char *prefix = question_prefixes[rng_below(rng, 2)];

    StrBuf text = {0}, q = {0};
    for (const char *c = word; *c; c++) {
        if (set->space_letters && c != word) strbuf_append(&text, " ", 1);
        strbuf_append(&text, c, 1);
    }
    strbuf_puts(&q, prefix);
    int rc = figfont_render(font, text.data, &q);
    strbuf_free(&text);
    if (rc != 0) {
        strbuf_free(&q);
        return -1;
    }
    out->question = q.data;
    out->answer = xstrdup(word);
    out->word = xstrdup(word);
    out->font = font->name;
    return 0;
}

void figlet_puzzle_free(FigletPuzzle *p)
{
    free(p->question);
    free(p->answer);
    free(p->word);
    memset(p, 0, sizeof *p);
}

int figlet_puzzle_to_jsonl(const FigletPuzzle *p, StrBuf *out)
{
    json_t *obj = json_object();
    const char *keys[4] = {"question", "answer", "font", "word"};
    const char *vals[4] = {p->question, p->answer, p->font, p->word};
    for (int i = 0; i < 4; i++) {
        json_t *s = json_string(vals[i]);
        if (!s) {
            json_decref(obj);
            return pf_fail("font %s: puzzle field '%s' is not valid UTF-8", p->font, keys[i]);
        }
        json_object_set_new(obj, keys[i], s);
    }
    char *line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!line) return pf_fail("font %s: cannot encode puzzle as JSON", p->font);
    strbuf_puts(out, line);
    strbuf_append(out, "\n", 1);
    free(line);
    return 0;
}

static int write_all(const char *path, const char *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return pf_fail("%s: cannot create: %s", path, strerror(errno));
    size_t w = n ? fwrite(data, 1, n, fp) : 0;
    int bad = fclose(fp) != 0 || w != n;
    return bad ? pf_fail("%s: write error", path) : 0;
}

int figlet_puzzles_write(const FigletPuzzleSet *set, size_t count, uint64_t seed,
                         const char *out_path, const char *words_out_path, size_t *n_distinct)
{
    Rng rng;
    rng_seed(&rng, seed);
    StrBuf jsonl = {0}, used_text = {0};
    WordSet used = {0};
    char **owned = xcalloc(count ? count : 1, sizeof *owned);
    size_t n_owned = 0;
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        FigletPuzzle p;
        rc = figlet_puzzle_make(set, &rng, &p);
        if (rc == 0) rc = figlet_puzzle_to_jsonl(&p, &jsonl);
        if (rc == 0 && wordset_add(&used, p.word)) {
            owned[n_owned++] = p.word; /* the set borrows it; freed below */
            strbuf_printf(&used_text, "%s\n", p.word);
            p.word = NULL;
        }
        figlet_puzzle_free(&p);
    }
    if (rc == 0) rc = write_all(out_path, jsonl.data ? jsonl.data : "", jsonl.len);
    if (rc == 0 && words_out_path)
        rc = write_all(words_out_path, used_text.data ? used_text.data : "", used_text.len);
    if (n_distinct) *n_distinct = used.n;
    free(used.slots);
    free_words(owned, n_owned);
    strbuf_free(&jsonl);
    strbuf_free(&used_text);
    return rc;
}
