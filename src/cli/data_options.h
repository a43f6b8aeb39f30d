/* The options shared by every subcommand that reads SFT data for a model (train, probe,
 * compare): tokenizer and chat template, prompt/response fields, length and bad-row policy,
 * and the thread count. One table, one parser and one help text, so the commands agree. */
#ifndef PRIORFT_CLI_DATA_OPTIONS_H
#define PRIORFT_CLI_DATA_OPTIONS_H

#include <getopt.h>

#include "data/sft.h"
#include "train/bundle.h"

/* getopt_long codes of the shared options; a command's own codes stay below DATA_OPT_FIRST. */
enum {
    DATA_OPT_FIRST = 1000,
    DATA_OPT_TOKENIZER = DATA_OPT_FIRST,
    DATA_OPT_TEMPLATE,
    DATA_OPT_SYSTEM,
    DATA_OPT_SUFFIX,
    DATA_OPT_PROMPT_KEY,
    DATA_OPT_RESPONSE_KEY,
    DATA_OPT_MESSAGES_KEY,
    DATA_OPT_MAX_LENGTH,
    DATA_OPT_TRUNCATION,
    DATA_OPT_SKIP_BAD,
    DATA_OPT_THREADS,
};

/* Help lines for the shared options, ready to print under a "data options:" heading. */
extern const char DATA_OPTIONS_HELP[];

/* A getopt_long table: the command's own rows (up to its zero row) followed by the shared
 * ones and a zero row. malloc'ed; free it after parsing. */
struct option *data_options_table(const struct option *own);

/* Applies a shared option to the bundle and SFT options. Returns 0 when applied, -1 after
 * printing an error that names the option, 1 when `opt` is not a shared option. */
int data_option_apply(int opt, const char *arg, BundleOptions *bundle, SftOptions *sft);

#endif
