/* `priorft tokenize`: text -> ids, ids -> text (--decode), and --bench FILE (encode throughput
 * on one thread, one encode call per line, as a loop of Hugging Face's encode would do). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/log.h"

int cmd_tokenize_data(int argc, char **argv); /* --data FILE, in cmd_tokenize_data.c */

static void tokenize_usage(FILE *f)
{
    fprintf(f,
            "usage: priorft tokenize --tokenizer PATH [--text TEXT | --file FILE] [--decode]\n"
            "                        [--no-special]\n"
            "       priorft tokenize --tokenizer PATH --bench FILE [--repeat N]\n"
            "       priorft tokenize --tokenizer PATH --data FILE.jsonl [...] (--data --help)\n\n"
            "PATH is a tokenizer.json, a model folder, a llama2.c tokenizer .bin or a .gguf.\n"
            "Encoding prints the ids, space-separated; --decode reads ids (separated by spaces\n"
            "or commas) and prints the text. --no-special encodes special-token text as plain\n"
            "text and leaves special tokens out when decoding. --bench encodes FILE one line at\n"
            "a time on one thread and prints MB/s and tokens/s.\n");
}

static int read_all(const char *path, StrBuf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return cli_error("%s: cannot open", path);
    char buf[65536];
    size_t n;
    strbuf_append(out, "", 0);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) strbuf_append(out, buf, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? cli_error("%s: read error", path) : 0;
}

static int parse_ids(const char *s, IntVec *ids)
{
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '\n' || *s == '\t' || *s == '\r' || *s == '[' ||
               *s == ']')
            s++;
        if (!*s) break;
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > 0x7fffffff)
            return cli_error("--decode: '%.20s' is not a token id", s);
        intvec_push(ids, (int)v);
        s = end;
    }
    return 0;
}

static int run_bench(const Tokenizer *t, const StrBuf *text, long repeat)
{
    size_t tokens = 0;
    IntVec ids = {0};
    double t0 = time_now();
    for (long r = 0; r < repeat; r++) {
        const char *p = text->data, *end = text->data + text->len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            ids.len = 0;
            if (tokenizer_encode(t, p, n, true, &ids)) {
                intvec_free(&ids);
                return cli_error("%s", pf_error());
            }
            tokens += ids.len;
            p += n + (nl ? 1 : 0);
        }
    }
    double dt = time_now() - t0;
    double mb = (double)text->len * (double)repeat / 1e6;
    printf("encoded %.2f MB into %zu tokens in %.3f s: %.2f MB/s, %.0f tokens/s (1 thread)\n", mb,
           tokens, dt, mb / dt, (double)tokens / dt);
    intvec_free(&ids);
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL, *text = NULL, *file = NULL, *bench = NULL;
    bool decode = false, special = true;
    long repeat = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            tokenize_usage(stdout);
            return 0;
        } else if (strcmp(a, "--tokenizer") == 0 && has_value) {
            path = argv[++i];
        } else if (strcmp(a, "--text") == 0 && has_value) {
            text = argv[++i];
        } else if (strcmp(a, "--file") == 0 && has_value) {
            file = argv[++i];
        } else if (strcmp(a, "--bench") == 0 && has_value) {
            bench = argv[++i];
        } else if (strcmp(a, "--repeat") == 0 && has_value) {
            if (cli_parse_int("--repeat", argv[++i], 1, 1000000, &repeat)) return 2;
        } else if (strcmp(a, "--decode") == 0) {
            decode = true;
        } else if (strcmp(a, "--no-special") == 0) {
            special = false;
        } else if (strcmp(a, "--data") == 0) {
            return cmd_tokenize_data(argc, argv); /* a JSONL SFT file: cmd_tokenize_data.c */
        } else {
            tokenize_usage(stderr);
            return cli_error("tokenize: unknown or incomplete option '%s'", a);
        }
    }
    if (!path) {
        tokenize_usage(stderr);
        return cli_error("tokenize: --tokenizer is required");
    }
    if (!bench && (!text) == (!file)) {
        tokenize_usage(stderr);
        return cli_error("tokenize: give exactly one of --text and --file");
    }

    Tokenizer *t = NULL;
    if (tokenizer_load(path, &t)) return cli_error("%s", pf_error());
    StrBuf input = {0};
    int rc = 0;
    if (bench || file) {
        rc = read_all(bench ? bench : file, &input);
    } else {
        strbuf_puts(&input, text);
    }
    if (rc == 0 && bench) {
        rc = run_bench(t, &input, repeat);
    } else if (rc == 0 && decode) {
        IntVec ids = {0};
        StrBuf out = {0};
        rc = parse_ids(input.data, &ids);
        if (rc == 0 && tokenizer_decode(t, ids.data, ids.len, !special, &out))
            rc = cli_error("%s", pf_error());
        if (rc == 0) fwrite(out.data, 1, out.len, stdout);
        intvec_free(&ids);
        strbuf_free(&out);
    } else if (rc == 0) {
        IntVec ids = {0};
        if (tokenizer_encode(t, input.data, input.len, special, &ids)) {
            rc = cli_error("%s", pf_error());
        } else {
            for (size_t i = 0; i < ids.len; i++) printf(i ? " %d" : "%d", ids.data[i]);
            printf("\n");
        }
        intvec_free(&ids);
    }
    strbuf_free(&input);
    tokenizer_free(t);
    return rc;
}
