/* A model together with what turns text into its training data: the tokenizer and the chat
 * template, found from one --model path the way a user expects (a Hugging Face folder carries
 * tokenizer.json and tokenizer_config.json; a GGUF file carries its vocabulary and template; a
 * llama2.c checkpoint has a tokenizer .bin beside it). train, eval, probe and generate share
 * this. */
#ifndef PRIORFT_TRAIN_BUNDLE_H
#define PRIORFT_TRAIN_BUNDLE_H

#include "data/sft.h"
#include "model/model.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

typedef struct ModelBundle {
    Model model;
    Tokenizer *tokenizer;
    ChatTemplate chat;
    SftEncoder encoder;
    char *tokenizer_path;  /* what the tokenizer was loaded from (folder or file) */
} ModelBundle;

typedef struct BundleOptions {
    const char *tokenizer_path; /* NULL: found from the model path */
    const char *chat_template;  /* family name; NULL: from the model, else "raw" */
    const char *system_prompt;  /* NULL: the template's default */
    const char *prompt_suffix;  /* NULL: none */
    bool load_weights;          /* false: only tokenizer and template (model left empty) */
} BundleOptions;

/* Opens model, tokenizer and chat template. Errors name the path at fault and, when no
 * tokenizer can be found, say which --tokenizer to pass. */
int bundle_open(const char *model_path, const BundleOptions *o, ModelBundle *out);
void bundle_close(ModelBundle *b);

/* The tokenizer path that goes with a model path (malloc'ed), or NULL with a message. */
char *bundle_find_tokenizer(const char *model_path);

#endif
