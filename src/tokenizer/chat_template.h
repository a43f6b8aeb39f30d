/* Chat templates: turn a conversation (system?, user, assistant, ...) into SEGMENTS of text, each
 * marked prompt-side or assistant-side, so that the loss mask covers exactly what the model must
 * learn to produce (the assistant's content and its end-of-turn token), and so that the
 * generation prompt for eval (everything up to where the assistant's content starts) comes from
 * the same code. Families: ChatML (SmolLM2, Qwen2.5: optional default system prompt), Qwen3
 * (ChatML with an empty think block before the final answer), Llama-3 headers, Llama-2 [INST],
 * DeepSeek base ("User: ...\n\nAssistant: ...") and raw (prompt text then response).
 *
 * Rendering matches Hugging Face's apply_chat_template(tokenize=False) for plain user/assistant
 * turns; the known differences are listed in chat_template.c. */
#ifndef PRIORFT_TOKENIZER_CHAT_TEMPLATE_H
#define PRIORFT_TOKENIZER_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "util/buf.h"

typedef enum ChatFamily {
    CHAT_CHATML = 0,
    CHAT_QWEN3,
    CHAT_LLAMA3,
    CHAT_LLAMA2,
    CHAT_DEEPSEEK,
    CHAT_RAW,
} ChatFamily;

typedef enum ChatRole { CHAT_SYSTEM = 0, CHAT_USER, CHAT_ASSISTANT } ChatRole;

/* One turn; content is NUL-terminated UTF-8 owned by the caller. */
typedef struct ChatMessage {
    ChatRole role;
    const char *content;
} ChatMessage;

typedef enum SegmentKind {
    SEG_TEXT = 0, /* message content: encoded WITHOUT special-token parsing */
    SEG_MARKUP,   /* template text between special tokens ("user\n", "[INST] "): plain text */
    SEG_TOKEN,    /* exactly one special or added token, as in the vocabulary ("<|im_end|>") */
    SEG_BOS,      /* the tokenizer's BOS (left out if it has none); text is how it renders */
    SEG_EOS,      /* the tokenizer's EOS; text is how it renders */
} SegmentKind;

typedef struct ChatSegment {
    SegmentKind kind;
    bool assistant; /* true: the model must produce it, the loss mask covers it */
    char *text;     /* owned, NUL-terminated */
    size_t len;
} ChatSegment;

typedef struct ChatRendering {
    ChatSegment *segments;
    size_t n, cap;
} ChatRendering;

typedef struct ChatTemplate {
    ChatFamily family;
    char *default_system; /* used when a conversation has no system turn (NULL: none) */
    char *system_prompt;  /* override of the system turn for conversations without one */
    char *prompt_suffix;  /* appended to every user turn after suffix_sep (NULL: none) */
    char *suffix_sep;     /* "\n" unless set */
    char *bos_text;       /* how SEG_BOS renders ("<s>", "<|begin_of_text|>", or "") */
    char *eos_text;       /* how SEG_EOS renders ("</s>", "<｜end▁of▁sentence｜>", or "") */
} ChatTemplate;

/* The family for a name: chatml, smollm2 (ChatML with SmolLM2's default system prompt), qwen2.5
 * (ChatML with Qwen2.5's), qwen3, llama3, llama2, deepseek, raw. Fills *t with that family's
 * defaults. Errors name the unknown name and list the known ones. */
int chat_template_init(ChatTemplate *t, const char *name);

/* Recognises the family of a Jinja chat template string by its markers (<|im_start|>,
 * <|start_header_id|>, [INST], "User: "/"Assistant:") and takes a ChatML default system prompt
 * written literally in it. `where` names the source in errors. */
int chat_template_from_jinja(ChatTemplate *t, const char *jinja, const char *where);

/* Reads a model folder's tokenizer_config.json (or that file itself): its chat_template (a string
 * or a list of {name, template}, "default" preferred), bos_token and eos_token. */
int chat_template_from_model(ChatTemplate *t, const char *path);

/* Sets (copies) the system prompt override / the prompt suffix; NULL clears. */
void chat_template_set_system(ChatTemplate *t, const char *system_prompt);
void chat_template_set_suffix(ChatTemplate *t, const char *suffix, const char *sep);

void chat_template_free(ChatTemplate *t);

/* The family's canonical name ("chatml", "llama3", ...). */
const char *chat_family_name(ChatFamily family);

/* Renders a conversation into segments appended to *out. With add_generation_prompt the
 * conversation must end with a user turn, and the segments end where the assistant's content
 * would start; without, every assistant turn is rendered with its end-of-turn token, both marked
 * assistant-side. Errors (empty conversation, roles out of order for the family) name the turn. */
int chat_render(const ChatTemplate *t, const ChatMessage *msgs, size_t n,
                bool add_generation_prompt, ChatRendering *out);

/* Appends the text of all segments (what apply_chat_template would print) to *out. */
void chat_rendering_text(const ChatRendering *r, StrBuf *out);

/* Convenience for eval: the generation prompt for one user question (with the template's system
 * prompt and suffix), as text. */
int chat_generation_prompt(const ChatTemplate *t, const char *question, StrBuf *out);

void chat_rendering_free(ChatRendering *r);

#endif
