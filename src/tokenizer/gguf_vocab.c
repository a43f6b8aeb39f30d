/* Tokenizers from GGUF metadata: "llama" vocabularies (SentencePiece BPE with scores) and
 * "gpt2" vocabularies (byte-level BPE with merges and a pre-tokenizer named by
 * tokenizer.ggml.pre). */
#include "tokenizer/tok_internal.h"
#include "util/error.h"

int gguf_vocab_load(Tokenizer *t, const char *path)
{
    (void)t;
    /* TODO: needs the GGUF reader (src/model/gguf.h), which is not in the tree yet. */
    return pf_fail("%s: GGUF tokenizers are not supported yet", path);
}
