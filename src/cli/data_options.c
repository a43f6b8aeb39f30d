/* The shared data options of train, probe and compare (see data_options.h). */
#include "cli/data_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/error.h"

const char DATA_OPTIONS_HELP[] =
"  --tokenizer PATH        tokenizer (default: found from the model)\n"
"  --chat-template NAME    chatml, smollm2, qwen2.5, qwen3, llama3, llama2, deepseek, raw\n"
"                          (default: what the model declares, else raw)\n"
"  --system TEXT           system prompt for conversations without one\n"
"  --prompt-suffix TEXT    appended to every user prompt (after a newline)\n"
"  --prompt-key KEY        prompt field, dots for nested keys (default prompt)\n"
"  --response-key KEY      response field (default response)\n"
"  --messages-key KEY      chat messages field (default messages)\n"
"  --max-length N          tokens per example (default 1024)\n"
"  --truncation MODE       error | left | right for longer examples (default error)\n"
"  --skip-bad-rows         skip malformed rows (counted and reported) instead of failing\n"
"  --threads N             OpenMP threads (default: all cores)\n";

static const struct option shared_rows[] = {
    {"tokenizer", required_argument, 0, DATA_OPT_TOKENIZER},
    {"chat-template", required_argument, 0, DATA_OPT_TEMPLATE},
    {"system", required_argument, 0, DATA_OPT_SYSTEM},
    {"prompt-suffix", required_argument, 0, DATA_OPT_SUFFIX},
    {"prompt-key", required_argument, 0, DATA_OPT_PROMPT_KEY},
    {"response-key", required_argument, 0, DATA_OPT_RESPONSE_KEY},
    {"messages-key", required_argument, 0, DATA_OPT_MESSAGES_KEY},
    {"max-length", required_argument, 0, DATA_OPT_MAX_LENGTH},
    {"truncation", required_argument, 0, DATA_OPT_TRUNCATION},
    {"skip-bad-rows", no_argument, 0, DATA_OPT_SKIP_BAD},
    {"threads", required_argument, 0, DATA_OPT_THREADS},
    {0, 0, 0, 0},
};

struct option *data_options_table(const struct option *own)
{
    size_t n_own = 0, n_shared = sizeof shared_rows / sizeof shared_rows[0];
    while (own[n_own].name) n_own++;
    struct option *table = xmalloc((n_own + n_shared) * sizeof *table);
    memcpy(table, own, n_own * sizeof *table);
    memcpy(table + n_own, shared_rows, n_shared * sizeof *table);
    return table;
}

int data_option_apply(int opt, const char *arg, BundleOptions *bundle, SftOptions *sft)
{
    long v = 0;
    switch (opt) {
    case DATA_OPT_TOKENIZER: bundle->tokenizer_path = arg; return 0;
    case DATA_OPT_TEMPLATE: bundle->chat_template = arg; return 0;
    case DATA_OPT_SYSTEM: bundle->system_prompt = arg; return 0;
    case DATA_OPT_SUFFIX: bundle->prompt_suffix = arg; return 0;
    case DATA_OPT_PROMPT_KEY: sft->prompt_key = arg; return 0;
    case DATA_OPT_RESPONSE_KEY: sft->response_key = arg; return 0;
    case DATA_OPT_MESSAGES_KEY: sft->messages_key = arg; return 0;
    case DATA_OPT_SKIP_BAD: sft->skip_bad_rows = true; return 0;
    case DATA_OPT_MAX_LENGTH:
        if (cli_parse_int("--max-length", arg, 2, 1 << 20, &v)) return -1;
        sft->max_length = (int)v;
        return 0;
    case DATA_OPT_TRUNCATION:
        if (sft_truncation_parse(arg, &sft->truncation) == 0) return 0;
        cli_error("--truncation: %s", pf_error());
        return -1;
    case DATA_OPT_THREADS: {
        if (cli_parse_int("--threads", arg, 1, 1024, &v)) return -1;
        char value[16];
        snprintf(value, sizeof value, "%ld", v);
        setenv("OMP_NUM_THREADS", value, 1);
        return 0;
    }
    }
    return 1;
}
