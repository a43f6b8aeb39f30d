/* Chat templates (see chat_template.h): family detection from a tokenizer_config.json and
 * rendering of conversations into prompt-side / assistant-side segments.
 *
 * Differences from Hugging Face's Jinja rendering, chosen on purpose:
 * - Llama-3 (the template in Meta-Llama-3's tokenizer_config.json) always appends an assistant
 *   header, even for a finished conversation; a training rendering here ends after the last
 *   <|eot_id|>. Llama-3.1's dated default system prompt ("Cutting Knowledge Date") is not
 *   reproduced. TODO: render it when a Llama-3.1 template is detected, for eval parity.
 * - Qwen3: the final assistant turn gets the empty think block "<think>\n\n</think>\n\n" as in
 *   apply_chat_template; it is prompt-side here, and the generation prompt includes it (equal to
 *   apply_chat_template(..., enable_thinking=False)), so training and eval agree. Assistant
 *   content that itself contains "</think>" is rendered as written (HF splits it into a
 *   reasoning block); tool calls and tool turns are not supported.
 * - Jinja's trim/strip remove Unicode whitespace; here only ASCII whitespace is stripped. */
#include "tokenizer/chat_template.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util/error.h"

static const char *const SMOLLM2_SYSTEM =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
static const char *const QWEN25_SYSTEM =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

static char *dup_or_null(const char *s) { return s ? xstrdup(s) : NULL; }

static void set_str(char **field, const char *value)
{
    free(*field);
    *field = dup_or_null(value);
}

const char *chat_family_name(ChatFamily family)
{
    switch (family) {
    case CHAT_CHATML: return "chatml";
    case CHAT_QWEN3: return "qwen3";
    case CHAT_LLAMA3: return "llama3";
    case CHAT_LLAMA2: return "llama2";
    case CHAT_DEEPSEEK: return "deepseek";
    case CHAT_RAW: return "raw";
    }
    return "?";
}

static void template_defaults(ChatTemplate *t, ChatFamily family)
{
    memset(t, 0, sizeof *t);
    t->family = family;
    t->suffix_sep = xstrdup("\n");
    switch (family) {
    case CHAT_LLAMA3:
        t->bos_text = xstrdup("<|begin_of_text|>");
        t->eos_text = xstrdup("<|eot_id|>");
        break;
    case CHAT_LLAMA2:
        t->bos_text = xstrdup("<s>");
        t->eos_text = xstrdup("</s>");
        break;
    case CHAT_DEEPSEEK:
        t->bos_text = xstrdup("<\xef\xbd\x9c" "begin\xe2\x96\x81of\xe2\x96\x81sentence"
                              "\xef\xbd\x9c>");
        t->eos_text = xstrdup("<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence"
                              "\xef\xbd\x9c>");
        break;
    default:
        t->bos_text = xstrdup("");
        t->eos_text = xstrdup("");
        break;
    }
}

int chat_template_init(ChatTemplate *t, const char *name)
{
    static const struct { const char *name; ChatFamily family; const char *system; } known[] = {
        {"chatml", CHAT_CHATML, NULL},   {"smollm2", CHAT_CHATML, NULL},
        {"qwen2.5", CHAT_CHATML, NULL},  {"qwen3", CHAT_QWEN3, NULL},
        {"llama3", CHAT_LLAMA3, NULL},   {"llama2", CHAT_LLAMA2, NULL},
        {"deepseek", CHAT_DEEPSEEK, NULL}, {"raw", CHAT_RAW, NULL},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(name, known[i].name) != 0) continue;
        template_defaults(t, known[i].family);
        if (strcmp(name, "smollm2") == 0) t->default_system = xstrdup(SMOLLM2_SYSTEM);
        if (strcmp(name, "qwen2.5") == 0) t->default_system = xstrdup(QWEN25_SYSTEM);
        return 0;
    }
    return pf_fail("unknown chat template '%s' (known: chatml, smollm2, qwen2.5, qwen3, llama3, "
                   "llama2, deepseek, raw)", name);
}

/* A default system prompt written literally after "<|im_start|>system\n" in a ChatML template
 * (SmolLM2, Qwen2.5), or NULL when the system text there is not a literal (Qwen3). */
static char *chatml_literal_system(const char *jinja)
{
    const char *marker = "<|im_start|>system";
    for (const char *p = strstr(jinja, marker); p; p = strstr(p + 1, marker)) {
        const char *s = p + strlen(marker);
        if (strncmp(s, "\\n", 2) == 0) s += 2;
        else if (*s == '\n') s += 1;
        else continue;
        const char *end = strstr(s, "<|im_end|>");
        if (!end || end == s) continue;
        size_t n = (size_t)(end - s);
        if (memchr(s, '\'', n) || memchr(s, '"', n) || memchr(s, '{', n) || memchr(s, '+', n))
            continue;
        StrBuf b = {0};
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '\\' && i + 1 < n && s[i + 1] == 'n') {
                strbuf_append(&b, "\n", 1);
                i++;
            } else {
                strbuf_append(&b, s + i, 1);
            }
        }
        return b.data;
    }
    return NULL;
}

int chat_template_from_jinja(ChatTemplate *t, const char *jinja, const char *where)
{
    if (strstr(jinja, "<|im_start|>")) {
        if (strstr(jinja, "<think>")) {
            template_defaults(t, CHAT_QWEN3);
        } else {
            template_defaults(t, CHAT_CHATML);
            t->default_system = chatml_literal_system(jinja);
        }
        return 0;
    }
    if (strstr(jinja, "<|start_header_id|>")) {
        template_defaults(t, CHAT_LLAMA3);
        return 0;
    }
    if (strstr(jinja, "[INST]")) {
        template_defaults(t, CHAT_LLAMA2);
        return 0;
    }
    if (strstr(jinja, "User: ") && strstr(jinja, "Assistant:")) {
        template_defaults(t, CHAT_DEEPSEEK);
        return 0;
    }
    return pf_fail("%s: chat_template not recognised (no <|im_start|>, <|start_header_id|>, "
                   "[INST] or User:/Assistant: markers); name one with --chat-template", where);
}

/* A special token entry of tokenizer_config.json: a string or {"content": string}. */
static const char *config_token(json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int chat_template_from_model(ChatTemplate *t, const char *path)
{
    StrBuf file = {0};
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) strbuf_puts(&file, path);
    else strbuf_printf(&file, "%s/tokenizer_config.json", path);

    json_error_t err;
    json_t *root = json_load_file(file.data, JSON_DECODE_INT_AS_REAL, &err);
    if (!root) {
        int rc = pf_fail("%s: line %d: %s", file.data, err.line, err.text);
        strbuf_free(&file);
        return rc;
    }
    json_t *ct = json_object_get(root, "chat_template");
    if (json_is_array(ct)) {
        json_t *chosen = NULL, *item;
        size_t i;
        json_array_foreach(ct, i, item) {
            json_t *name = json_object_get(item, "name");
            if (!chosen || (json_is_string(name) && !strcmp(json_string_value(name), "default")))
                chosen = item;
        }
        ct = chosen ? json_object_get(chosen, "template") : NULL;
    }
    int rc;
    if (!json_is_string(ct)) {
        rc = pf_fail("%s: no chat_template string; name a template with --chat-template",
                     file.data);
    } else {
        rc = chat_template_from_jinja(t, json_string_value(ct), file.data);
    }
    if (rc == 0) {
        const char *bos = config_token(root, "bos_token");
        const char *eos = config_token(root, "eos_token");
        /* The config's BOS is what the Llama-3 template writes first; for Llama-2 and DeepSeek
         * the template writes bos_token/eos_token too. ChatML families use neither. */
        if (bos && (t->family == CHAT_LLAMA3 || t->family == CHAT_LLAMA2 ||
                    t->family == CHAT_DEEPSEEK))
            set_str(&t->bos_text, bos);
        if (eos && (t->family == CHAT_LLAMA2 || t->family == CHAT_DEEPSEEK))
            set_str(&t->eos_text, eos);
    }
    json_decref(root);
    strbuf_free(&file);
    return rc;
}

void chat_template_set_system(ChatTemplate *t, const char *system_prompt)
{
    set_str(&t->system_prompt, system_prompt);
}

void chat_template_set_suffix(ChatTemplate *t, const char *suffix, const char *sep)
{
    set_str(&t->prompt_suffix, suffix);
    if (sep) set_str(&t->suffix_sep, sep);
}

void chat_template_free(ChatTemplate *t)
{
    free(t->default_system);
    free(t->system_prompt);
    free(t->prompt_suffix);
    free(t->suffix_sep);
    free(t->bos_text);
    free(t->eos_text);
    memset(t, 0, sizeof *t);
}

void chat_rendering_free(ChatRendering *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->segments[i].text);
    free(r->segments);
    memset(r, 0, sizeof *r);
}

static void seg_push(ChatRendering *r, SegmentKind kind, bool assistant, const char *s, size_t n)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->segments = xrealloc(r->segments, r->cap * sizeof *r->segments);
    }
    ChatSegment *g = &r->segments[r->n++];
    g->kind = kind;
    g->assistant = assistant;
    g->text = xmalloc(n + 1);
    memcpy(g->text, s, n);
    g->text[n] = '\0';
    g->len = n;
}

static void markup(ChatRendering *r, const char *s)
{
    seg_push(r, SEG_MARKUP, false, s, strlen(s));
}

/* A special token of the template, e.g. "<|im_start|>": always its own segment. */
static void special(ChatRendering *r, const char *s, bool assistant)
{
    seg_push(r, SEG_TOKEN, assistant, s, strlen(s));
}

/* "<|im_start|>role\n" as a token and text. */
static void chatml_header(ChatRendering *r, const char *role)
{
    special(r, "<|im_start|>", false);
    StrBuf b = {0};
    strbuf_printf(&b, "%s\n", role);
    markup(r, b.data);
    strbuf_free(&b);
}

/* Qwen3's empty think block "<think>\n\n</think>\n\n" (both tags are added tokens). */
static void qwen3_think_empty(ChatRendering *r)
{
    special(r, "<think>", false);
    markup(r, "\n\n");
    special(r, "</think>", false);
    markup(r, "\n\n");
}

/* "<|start_header_id|>role<|end_header_id|>\n\n" as tokens and text. */
static void llama3_header(ChatRendering *r, const char *role)
{
    special(r, "<|start_header_id|>", false);
    markup(r, role);
    special(r, "<|end_header_id|>", false);
    markup(r, "\n\n");
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* [*s, *s + *n) without leading (lead) and trailing whitespace. */
static void strip(const char **s, size_t *n, bool lead)
{
    while (lead && *n > 0 && is_space(**s)) (*s)++, (*n)--;
    while (*n > 0 && is_space((*s)[*n - 1])) (*n)--;
}

/* A user turn's content with the template's prompt suffix appended. */
static void user_content(const ChatTemplate *t, const char *content, StrBuf *out)
{
    strbuf_puts(out, content);
    if (t->prompt_suffix && t->prompt_suffix[0]) {
        strbuf_puts(out, t->suffix_sep ? t->suffix_sep : "\n");
        strbuf_puts(out, t->prompt_suffix);
    }
}

static const char *role_name(ChatRole role)
{
    return role == CHAT_SYSTEM ? "system" : role == CHAT_USER ? "user" : "assistant";
}

/* ChatML and Qwen3: <|im_start|>role\ncontent<|im_end|>\n per turn. */
static void render_chatml(const ChatTemplate *t, const ChatMessage *m, size_t n, bool gen,
                          ChatRendering *r)
{
    size_t last_user = 0;
    for (size_t i = 0; i < n; i++)
        if (m[i].role == CHAT_USER) last_user = i;

    for (size_t i = 0; i < n; i++) {
        chatml_header(r, role_name(m[i].role));
        if (m[i].role == CHAT_ASSISTANT) {
            const char *c = m[i].content;
            size_t len = strlen(c);
            if (t->family == CHAT_QWEN3 && i == n - 1 && i > last_user) {
                qwen3_think_empty(r);
                while (len > 0 && *c == '\n') c++, len--;
            }
            seg_push(r, SEG_TEXT, true, c, len);
            special(r, "<|im_end|>", true);
            markup(r, "\n");
            continue;
        }
        StrBuf body = {0};
        if (m[i].role == CHAT_USER) user_content(t, m[i].content, &body);
        else strbuf_puts(&body, m[i].content);
        seg_push(r, SEG_TEXT, false, body.data, body.len);
        strbuf_free(&body);
        special(r, "<|im_end|>", false);
        markup(r, "\n");
    }
    if (gen) {
        chatml_header(r, "assistant");
        if (t->family == CHAT_QWEN3) qwen3_think_empty(r);
    }
}

/* Llama-3: BOS, then <|start_header_id|>role<|end_header_id|>\n\n trim(content)<|eot_id|>. */
static void render_llama3(const ChatTemplate *t, const ChatMessage *m, size_t n, bool gen,
                          ChatRendering *r)
{
    seg_push(r, SEG_TOKEN, false, t->bos_text, strlen(t->bos_text));
    for (size_t i = 0; i < n; i++) {
        StrBuf body = {0};
        llama3_header(r, role_name(m[i].role));
        if (m[i].role == CHAT_USER) user_content(t, m[i].content, &body);
        else strbuf_puts(&body, m[i].content);
        const char *c = body.data;
        size_t len = body.len;
        strip(&c, &len, true);
        bool assistant = m[i].role == CHAT_ASSISTANT;
        seg_push(r, SEG_TEXT, assistant, c, len);
        special(r, "<|eot_id|>", assistant);
        strbuf_free(&body);
    }
    if (gen) llama3_header(r, "assistant");
}

/* Llama-2: <s>[INST] <<SYS>>\nsys\n<</SYS>>\n\nuser [/INST] answer </s> per exchange. */
static int render_llama2(const ChatTemplate *t, const ChatMessage *m, size_t n, bool gen,
                         ChatRendering *r)
{
    (void)gen;
    const char *system = NULL;
    size_t start = 0;
    if (n > 0 && m[0].role == CHAT_SYSTEM) system = m[0].content, start = 1;
    for (size_t i = start; i < n; i++) {
        ChatRole want = ((i - start) % 2 == 0) ? CHAT_USER : CHAT_ASSISTANT;
        if (m[i].role != want)
            return pf_fail("turn %zu: llama2 template needs system?, then user and assistant "
                           "turns alternating, got %s", i + 1, role_name(m[i].role));
        if (m[i].role == CHAT_ASSISTANT) {
            const char *c = m[i].content;
            size_t len = strlen(c);
            strip(&c, &len, true);
            StrBuf body = {0};
            strbuf_puts(&body, " ");
            strbuf_append(&body, c, len);
            strbuf_puts(&body, " ");
            seg_push(r, SEG_TEXT, true, body.data, body.len);
            seg_push(r, SEG_EOS, true, t->eos_text, strlen(t->eos_text));
            strbuf_free(&body);
            continue;
        }
        seg_push(r, SEG_BOS, false, t->bos_text, strlen(t->bos_text));
        markup(r, "[INST] ");
        StrBuf body = {0};
        user_content(t, m[i].content, &body);
        const char *c = body.data;
        size_t len = body.len;
        bool first_with_system = (i == start && system);
        if (first_with_system) {
            /* HF strips the whole "<<SYS>>...user" string: the system text keeps its spaces */
            markup(r, "<<SYS>>\n");
            seg_push(r, SEG_TEXT, false, system, strlen(system));
            markup(r, "\n<</SYS>>\n\n");
        }
        strip(&c, &len, !first_with_system);
        seg_push(r, SEG_TEXT, false, c, len);
        markup(r, " [/INST]");
        strbuf_free(&body);
    }
    return 0;
}

/* DeepSeek base/chat: BOS, "sys\n\n", "User: q\n\n", "Assistant: a" EOS. */
static void render_deepseek(const ChatTemplate *t, const ChatMessage *m, size_t n, bool gen,
                            ChatRendering *r)
{
    seg_push(r, SEG_BOS, false, t->bos_text, strlen(t->bos_text));
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == CHAT_ASSISTANT) {
            markup(r, "Assistant:");
            StrBuf body = {0};
            strbuf_printf(&body, " %s", m[i].content);
            seg_push(r, SEG_TEXT, true, body.data, body.len);
            seg_push(r, SEG_EOS, true, t->eos_text, strlen(t->eos_text));
            strbuf_free(&body);
        } else if (m[i].role == CHAT_USER) {
            StrBuf body = {0};
            user_content(t, m[i].content, &body);
            markup(r, "User: ");
            seg_push(r, SEG_TEXT, false, body.data, body.len);
            markup(r, "\n\n");
            strbuf_free(&body);
        } else {
            seg_push(r, SEG_TEXT, false, m[i].content, strlen(m[i].content));
            markup(r, "\n\n");
        }
    }
    if (gen) markup(r, "Assistant:");
}

/* Raw: BOS, system text and a blank line, user text, assistant text then EOS. */
static void render_raw(const ChatTemplate *t, const ChatMessage *m, size_t n, ChatRendering *r)
{
    seg_push(r, SEG_BOS, false, t->bos_text, strlen(t->bos_text));
    for (size_t i = 0; i < n; i++) {
        if (m[i].role == CHAT_ASSISTANT) {
            seg_push(r, SEG_TEXT, true, m[i].content, strlen(m[i].content));
            seg_push(r, SEG_EOS, true, t->eos_text, strlen(t->eos_text));
        } else if (m[i].role == CHAT_USER) {
            StrBuf body = {0};
            user_content(t, m[i].content, &body);
            seg_push(r, SEG_TEXT, false, body.data, body.len);
            strbuf_free(&body);
        } else {
            seg_push(r, SEG_TEXT, false, m[i].content, strlen(m[i].content));
            markup(r, "\n\n");
        }
    }
}

int chat_render(const ChatTemplate *t, const ChatMessage *msgs, size_t n,
                bool add_generation_prompt, ChatRendering *out)
{
    if (n == 0) return pf_fail("empty conversation");
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].content) return pf_fail("turn %zu: no content", i + 1);
        if ((unsigned)msgs[i].role > CHAT_ASSISTANT) return pf_fail("turn %zu: bad role", i + 1);
    }
    if (add_generation_prompt && msgs[n - 1].role == CHAT_ASSISTANT)
        return pf_fail("turn %zu: a generation prompt needs the conversation to end with a "
                       "user turn", n);

    /* The system override, else the template's default, when the conversation has none. */
    const char *system = t->system_prompt ? t->system_prompt : t->default_system;
    ChatMessage *m = xmalloc((n + 1) * sizeof *m);
    size_t count = 0;
    if (msgs[0].role != CHAT_SYSTEM && system)
        m[count++] = (ChatMessage){CHAT_SYSTEM, system};
    memcpy(m + count, msgs, n * sizeof *m);
    count += n;

    int rc = 0;
    switch (t->family) {
    case CHAT_CHATML:
    case CHAT_QWEN3: render_chatml(t, m, count, add_generation_prompt, out); break;
    case CHAT_LLAMA3: render_llama3(t, m, count, add_generation_prompt, out); break;
    case CHAT_LLAMA2: rc = render_llama2(t, m, count, add_generation_prompt, out); break;
    case CHAT_DEEPSEEK: render_deepseek(t, m, count, add_generation_prompt, out); break;
    case CHAT_RAW: render_raw(t, m, count, out); break;
    }
    free(m);
    return rc;
}

void chat_rendering_text(const ChatRendering *r, StrBuf *out)
{
    for (size_t i = 0; i < r->n; i++) strbuf_append(out, r->segments[i].text, r->segments[i].len);
    if (!out->data) strbuf_append(out, "", 0);
}

int chat_generation_prompt(const ChatTemplate *t, const char *question, StrBuf *out)
{
    ChatMessage m = {CHAT_USER, question};
    ChatRendering r = {0};
    int rc = chat_render(t, &m, 1, true, &r);
    if (rc == 0) chat_rendering_text(&r, out);
    chat_rendering_free(&r);
    return rc;
}
