/* `priorft tokenize --data FILE`: reads a JSONL SFT file the way training does (chat template,
 * loss mask, max length, bad-row handling) and prints the counts and the first examples split
 * into their prompt side and their loss-masked response side, to check a data set before
 * training on it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/sft.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "train/bundle.h"
#include "util/error.h"

static void tokenize_data_usage(FILE *f)
{
    fprintf(f,
            "usage: priorft tokenize --tokenizer PATH --data FILE [--chat-template NAME]\n"
            "                        [--prompt-key K] [--response-key K] [--messages-key K]\n"
            "                        [--system TEXT] [--prompt-suffix TEXT] [--max-length N]\n"
            "                        [--truncation error|left|right] [--skip-bad-rows]\n"
            "                        [--show N]\n\n"
            "Reads FILE (JSONL: prompt/response fields, dotted keys such as extra_info.question,\n"
            "or a messages list) as training does and prints its counts and the first N (2)\n"
            "examples: the prompt side and the response side (what the loss mask covers).\n"
            "The chat template is found as training finds it (tokenizer_config.json next to\n"
            "PATH or a GGUF's own, else raw) unless --chat-template names one: chatml,\n"
            "smollm2, qwen2.5, qwen3, llama3, llama2, deepseek, raw.\n");
}

/* Prints the ids of e whose mask equals `masked`, decoded. */
static int print_side(const Tokenizer *t, const SftExample *e, int masked)
{
    IntVec ids = {0};
    for (int i = 0; i < e->len; i++)
        if (e->loss_mask[i] == masked) intvec_push(&ids, e->tokens[i]);
    StrBuf text = {0};
    int rc = tokenizer_decode(t, ids.data, ids.len, false, &text);
    if (rc == 0) printf("%s\n", text.data ? text.data : "");
    intvec_free(&ids);
    strbuf_free(&text);
    return rc;
}

int cmd_tokenize_data(int argc, char **argv)
{
    const char *tok_path = NULL, *data = NULL, *template_name = NULL, *system = NULL;
    const char *suffix = NULL;
    long show = 2, max_length = 0;
    SftOptions o;
    sft_options_default(&o);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            tokenize_data_usage(stdout);
            return 0;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool v = i + 1 < argc;
        if (!strcmp(a, "--tokenizer") && v) tok_path = argv[++i];
        else if (!strcmp(a, "--data") && v) data = argv[++i];
        else if (!strcmp(a, "--chat-template") && v) template_name = argv[++i];
        else if (!strcmp(a, "--prompt-key") && v) o.prompt_key = argv[++i];
        else if (!strcmp(a, "--response-key") && v) o.response_key = argv[++i];
        else if (!strcmp(a, "--messages-key") && v) o.messages_key = argv[++i];
        else if (!strcmp(a, "--system") && v) system = argv[++i];
        else if (!strcmp(a, "--prompt-suffix") && v) suffix = argv[++i];
        else if (!strcmp(a, "--skip-bad-rows")) o.skip_bad_rows = true;
        else if (!strcmp(a, "--max-length") && v) {
            if (cli_parse_int("--max-length", argv[++i], 0, 1 << 24, &max_length)) return 2;
        } else if (!strcmp(a, "--show") && v) {
            if (cli_parse_int("--show", argv[++i], 0, 1000000, &show)) return 2;
        } else if (!strcmp(a, "--truncation") && v) {
            if (sft_truncation_parse(argv[++i], &o.truncation)) return cli_error("%s", pf_error());
        } else {
            tokenize_data_usage(stderr);
            return cli_error("tokenize --data: unknown or incomplete option '%s'", a);
        }
    }
    if (!tok_path || !data) {
        tokenize_data_usage(stderr);
        return cli_error("tokenize --data: --tokenizer and --data are required");
    }
    o.max_length = (int)max_length;

    /* Tokenizer and chat template found as training finds them (a llama2.c .bin or a
     * tokenizer.json without tokenizer_config.json beside it is raw; a GGUF's own template). */
    BundleOptions bo = {.tokenizer_path = tok_path, .chat_template = template_name,
                        .system_prompt = system, .prompt_suffix = suffix, .load_weights = false};
    ModelBundle b;
    if (bundle_open(tok_path, &bo, &b) != 0) return cli_error("%s", pf_error());
    const Tokenizer *t = b.tokenizer;
    const ChatTemplate *ctp = &b.chat;
    SftDataset d = {0};
    SftStats st;
    int rc = sft_load_jsonl(data, ctp, &b.encoder, &o, &d, &st);
    if (rc) {
        rc = cli_error("%s", pf_error());
    } else {
        StrBuf sum = {0};
        sft_stats_summary(&st, &sum);
        printf("chat template: %s\n%s", chat_family_name(ctp->family), sum.data);
        strbuf_free(&sum);
        for (size_t i = 0; i < d.n && (long)i < show && rc == 0; i++) {
            const SftExample *e = &d.examples[i];
            printf("\n--- example %zu (line %ld): %d tokens, %ld under the loss mask\n"
                   "--- prompt side:\n", i + 1, e->line, e->len, sft_example_kept(e));
            rc = print_side(t, e, 0);
            printf("--- response side (loss mask):\n");
            if (rc == 0) rc = print_side(t, e, 1);
            if (rc) rc = cli_error("%s", pf_error());
        }
    }
    sft_dataset_free(&d);
    bundle_close(&b);
    return rc;
}
