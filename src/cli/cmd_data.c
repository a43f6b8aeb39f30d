/* `priorft data`: prepares data sets. `data figlet` writes figlet-decoding puzzles as JSONL
 * (question/answer, read elsewhere as prompt/response) or renders one text in a font. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "data/figlet.h"
#include "data/figlet_puzzles.h"
#include "util/error.h"
#include "util/log.h"

static void data_usage(FILE *f)
{
    fprintf(f,
            "usage: priorft data figlet --out FILE --count N [--seed S] [--min-len 2]\n"
            "                           [--max-len 5] [--fonts DIR] [--words FILE]\n"
            "                           [--exclude-words FILE] [--holdout-out FILE]\n"
            "                           [--split train|test|all] [--no-space-letters]\n"
            "       priorft data figlet --render TEXT --font FILE.flf [--gap N]\n\n"
            "Writes N puzzles in the form of reasoning-gym's figlet_font task: an uppercase\n"
            "word of min-len..max-len letters, spaced ('W O R D'), drawn in a font picked from\n"
            "DIR (default /usr/share/figlet, else ../shared/data/figlet/fonts; fonts the\n"
            "reference excludes are skipped), asked as 'What word does this say?' or 'Please\n"
            "read the following figlet font:'. JSONL fields: question, answer, font, word.\n"
            "The same inputs and seed give identical bytes. --split puts 1 word in 10 (a fixed\n"
            "hash) in 'test' and the rest in 'train', so the two never share a word;\n"
            "--holdout-out writes the words used, for another run's --exclude-words.\n"
            "--render prints TEXT as figlet -w 1000 would (--gap N: letters drawn one by one,\n"
            "N spaces apart).\n");
}

static bool path_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* The shared folder's copy of a file, when the folder is there. */
static const char *shared_default(const char *relative, char *buf, size_t size)
{
    const char *root = getenv("PRIORFT_SHARED");
    snprintf(buf, size, "%s/%s", root ? root : "../shared", relative);
    return path_exists(buf) ? buf : NULL;
}

static int figlet_render_cmd(const char *text, const char *font_path, long gap)
{
    if (!font_path) return cli_error("data figlet: --render needs --font FILE.flf");
    FigFont font;
    if (figfont_load(&font, font_path) != 0) return cli_error("%s", pf_error());
    StrBuf out = {0};
    int rc = gap >= 0 ? figfont_render_gapped(&font, text, (int)gap, &out)
                      : figfont_render(&font, text, &out);
    if (rc == 0) fputs(out.data ? out.data : "", stdout);
    else cli_error("%s", pf_error());
    strbuf_free(&out);
    figfont_free(&font);
    return rc == 0 ? 0 : 1;
}

static int cmd_data_figlet(int argc, char **argv)
{
    FigletPuzzleConfig cfg;
    figlet_config_defaults(&cfg);
    const char *out = NULL, *holdout = NULL, *render = NULL, *font = NULL;
    long count = -1, seed = 0, min_len = cfg.min_len, max_len = cfg.max_len, gap = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            data_usage(stdout);
            return 0;
        }
        if (strcmp(a, "--no-space-letters") == 0) {
            cfg.space_letters = false;
            continue;
        }
        if (i + 1 >= argc) return cli_error("data figlet: %s needs a value (see --help)", a);
        const char *v = argv[++i];
        if (strcmp(a, "--out") == 0) out = v;
        else if (strcmp(a, "--holdout-out") == 0) holdout = v;
        else if (strcmp(a, "--fonts") == 0) cfg.fonts_dir = v;
        else if (strcmp(a, "--words") == 0) cfg.words_path = v;
        else if (strcmp(a, "--exclude-words") == 0) cfg.exclude_path = v;
        else if (strcmp(a, "--render") == 0) render = v;
        else if (strcmp(a, "--font") == 0) font = v;
        else if (strcmp(a, "--count") == 0) {
            if (cli_parse_int(a, v, 0, 100000000, &count)) return 1;
        } else if (strcmp(a, "--seed") == 0) {
            if (cli_parse_int(a, v, 0, 0x7fffffffffffffffL, &seed)) return 1;
        } else if (strcmp(a, "--min-len") == 0) {
            if (cli_parse_int(a, v, 1, 64, &min_len)) return 1;
        } else if (strcmp(a, "--max-len") == 0) {
            if (cli_parse_int(a, v, 1, 64, &max_len)) return 1;
        } else if (strcmp(a, "--gap") == 0) {
            if (cli_parse_int(a, v, 0, 64, &gap)) return 1;
        } else if (strcmp(a, "--split") == 0) {
            if (strcmp(v, "train") == 0) cfg.split = FIGLET_SPLIT_TRAIN;
            else if (strcmp(v, "test") == 0) cfg.split = FIGLET_SPLIT_TEST;
            else if (strcmp(v, "all") == 0) cfg.split = FIGLET_SPLIT_ALL;
            else return cli_error("--split: '%s' is not train, test or all", v);
        } else {
            return cli_error("data figlet: unknown option '%s' (see --help)", a);
        }
    }
    if (render) return figlet_render_cmd(render, font, gap);

    if (!out || count < 0) return cli_error("data figlet: --out FILE and --count N are required");
    if (min_len > max_len) return cli_error("--min-len %ld exceeds --max-len %ld", min_len,
                                            max_len);
    cfg.min_len = (int)min_len;
    cfg.max_len = (int)max_len;
    char fonts_buf[4096], words_buf[4096];
    if (!cfg.fonts_dir) {
        cfg.fonts_dir = path_exists("/usr/share/figlet")
                            ? "/usr/share/figlet"
                            : shared_default("data/figlet/fonts", fonts_buf, sizeof fonts_buf);
        if (!cfg.fonts_dir) return cli_error("data figlet: no fonts folder found; pass --fonts");
    }
    if (!cfg.words_path) {
        cfg.words_path = shared_default("data/words/words3to10.txt", words_buf, sizeof words_buf);
        if (!cfg.words_path) return cli_error("data figlet: no word list found; pass --words");
    }

    FigletPuzzleSet set;
    if (figlet_set_load(&set, &cfg) != 0) return cli_error("%s", pf_error());
    log_info("data figlet: %zu fonts (%zu skipped), %zu words", set.n_fonts, set.n_fonts_skipped,
             set.n_words);
    size_t distinct = 0;
    int rc = figlet_puzzles_write(&set, (size_t)count, (uint64_t)seed, out, holdout, &distinct);
    if (rc == 0)
        fprintf(stderr, "wrote %ld puzzles (%zu distinct words, %zu fonts) to %s\n", count,
                distinct, set.n_fonts, out);
    else
        cli_error("%s", pf_error());
    figlet_set_free(&set);
    return rc == 0 ? 0 : 1;
}

int cmd_data(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "figlet") == 0) return cmd_data_figlet(argc - 1, argv + 1);
    cli_error("data: unknown data set '%s' (known: figlet)", argv[1]);
    return 2;
}
