/* Training checkpoints: a folder OUT/checkpoint-NNNNNNNN holding the model as a Hugging Face
 * folder (config.json, model.safetensors, and the source's tokenizer files when it had them),
 * the AdamW moments (optimizer.safetensors) and trainer_state.json (step, data-loader
 * position, settings). The folder is written under a temporary name and renamed into place
 * after every file is synced, then OUT/latest (one line, the folder's name) is replaced
 * atomically; killing the process at any moment leaves the previous checkpoint intact. */
#ifndef PRIORFT_TRAIN_CHECKPOINT_H
#define PRIORFT_TRAIN_CHECKPOINT_H

#include <jansson.h>

#include "model/model.h"
#include "optim/optim.h"

/* Writes checkpoint `step` of out_dir. tokenizer_path (may be NULL) is where the model's
 * tokenizer came from: a folder's tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json and generation_config.json are copied; a llama2.c tokenizer file is
 * copied as tokenizer.bin; a GGUF's path is written to tokenizer_source (its vocabulary lives in
 * the model file). state is stored as trainer_state.json. On success *written (if not
 * NULL) gets the checkpoint's path (malloc'ed). Keeps at most keep_last checkpoints (0: all),
 * removing the oldest complete ones after the new one is in place. */
int checkpoint_save(const char *out_dir, long step, const Model *m, const AdamW *opt,
                    const char *tokenizer_path, json_t *state, int keep_last, char **written);

/* The newest complete checkpoint of out_dir (from OUT/latest, else the highest-numbered
 * folder), malloc'ed; NULL with a message when there is none. Leftover temporary folders of an
 * interrupted write are ignored. */
char *checkpoint_find_latest(const char *out_dir);

/* Loads a checkpoint folder: the model (allocated into m), the optimiser moments into opt
 * (which must be initialised for m's parameter count; its step is restored) and the trainer
 * state (new reference, json_decref it). */
int checkpoint_load(const char *dir, Model *m, AdamW *opt, json_t **state);

/* Removes leftover "*.tmp-*" checkpoint folders in out_dir (from a killed write). */
void checkpoint_clean_partial(const char *out_dir);

#endif
