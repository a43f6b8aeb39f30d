"""Writes tests/fixtures/chat/renderings.json: conversations rendered by transformers'
apply_chat_template (tokenize=False) with the Llama-3 and Qwen3 tokenizer configs from
../shared/tokenizers and with the published SmolLM2, Llama-2 and DeepSeek template strings, so
that tests/test_chat_template.c can compare priorft's renderings character for character.
Also writes tests/fixtures/data/sft_token_ids.json: the ids of whole rendered conversations
(Llama-3 with Hugging Face tokenizers, Llama-2 with sentencepiece, split at special tokens as
the slow LlamaTokenizer does) for tests/test_data_real.c.

Run from the repository root: .venv/bin/python tools/make_chat_fixtures.py
"""
import json
import os
import sys

from transformers import AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "tokenizers")
OUT = os.path.join(ROOT, "tests", "fixtures", "chat", "renderings.json")

# Published templates (HuggingFaceTB/SmolLM2-135M-Instruct, meta-llama/Llama-2-7b-chat-hf,
# deepseek-ai/deepseek-llm-7b-chat tokenizer_config.json).
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}"
    "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}"
    "{% endif %}{% endfor %}"
)
DEEPSEEK = (
    "{% if not add_generation_prompt is defined %}"
    "{% set add_generation_prompt = false %}{% endif %}"
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ 'User: ' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}"
    "{{ 'Assistant: ' + message['content'] + eos_token }}{% elif message['role'] == 'system' %}"
    "{{ message['content'] + '\\n\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
DS_BOS = "<\uff5cbegin\u2581of\u2581sentence\uff5c>"
DS_EOS = "<\uff5cend\u2581of\u2581sentence\uff5c>"

SUFFIX = "Please reason step by step, and put your final answer within \\boxed{}."

CONVERSATIONS = {
    "single": [
        {"role": "user", "content": "What is 2+3?"},
        {"role": "assistant", "content": "2+3 = 5.\n#### 5"},
    ],
    "system": [
        {"role": "system", "content": "You are a terse math tutor."},
        {"role": "user", "content": "Compute 7*6."},
        {"role": "assistant", "content": "42"},
    ],
    "multi": [
        {"role": "user", "content": "Name a prime."},
        {"role": "assistant", "content": "7 is prime."},
        {"role": "user", "content": "And an even one?"},
        {"role": "assistant", "content": "2 is the only even prime."},
    ],
    "unicode": [
        {"role": "user", "content": "Écris «bonjour» — 日本語で? 😀"},
        {"role": "assistant", "content": "Bonjour ! こんにちは 🎉"},
    ],
    "spaces": [
        {"role": "user", "content": "  padded question \n"},
        {"role": "assistant", "content": "\n answer with spaces  "},
    ],
}


def render(tok, template, conv, gen, extra):
    if not extra:
        kwargs = dict(tokenize=False, add_generation_prompt=gen)
        if template is not None:
            kwargs["chat_template"] = template
        return tok.apply_chat_template(conv, **kwargs)
    # transformers 4.38's apply_chat_template does not pass extra variables (enable_thinking) to
    # the template; render the way it does internally, with them added.
    compiled = tok._compile_jinja_template(template)
    return compiled.render(messages=conv, add_generation_prompt=gen, **extra,
                           **tok.special_tokens_map)


def main():
    llama3 = AutoTokenizer.from_pretrained(os.path.join(SHARED, "llama3"))
    # tokenizers 0.15 cannot parse Qwen3's tokenizer.json (merges as pairs); the rendering only
    # needs its Jinja template, taken verbatim from its tokenizer_config.json.
    with open(os.path.join(SHARED, "qwen3", "tokenizer_config.json"), encoding="utf-8") as f:
        qwen3_template = json.load(f)["chat_template"]
    # A tokenizer object only hosts the Jinja rendering of the template strings; bos/eos are
    # set to the tokens those models declare.
    host = AutoTokenizer.from_pretrained(os.path.join(SHARED, "llama3"))

    setups = [
        ("llama3", llama3, None, None, None, {}),
        ("qwen3", host, qwen3_template, "", "<|im_end|>", {"enable_thinking": False}),
        ("smollm2", host, SMOLLM2, "", "", {}),
        ("llama2", host, LLAMA2, "<s>", "</s>", {}),
        ("deepseek", host, DEEPSEEK, DS_BOS, DS_EOS, {}),
    ]
    cases = []
    for name, tok, template, bos, eos, gen_extra in setups:
        for conv_name, conv in CONVERSATIONS.items():
            for with_suffix in (False, True):
                if with_suffix and conv_name not in ("single", "system"):
                    continue
                conv2 = [dict(m) for m in conv]
                if with_suffix:
                    for m in conv2:
                        if m["role"] == "user":
                            m["content"] = m["content"] + "\n" + SUFFIX
                if template is not None:
                    tok.bos_token = bos or None
                    tok.eos_token = eos or None
                full = render(tok, template, conv2, False, {})
                prompt = render(tok, template, conv2[:-1], True, gen_extra)
                base = {
                    "template": name,
                    "jinja": template if name not in ("qwen3",) else None,
                    "bos_token": bos,
                    "eos_token": eos,
                    "conversation": conv,
                    "suffix": SUFFIX if with_suffix else None,
                    "name": conv_name,
                }
                cases.append(dict(base, generation_prompt=False, text=full))
                cases.append(dict(base, generation_prompt=True, text=prompt))
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False, indent=1)
    print(f"wrote {len(cases)} renderings to {OUT}", file=sys.stderr)


def token_ids():
    import sentencepiece as spm

    llama3 = AutoTokenizer.from_pretrained(os.path.join(SHARED, "llama3"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(SHARED, "llama2", "tokenizer.model"))
    host = AutoTokenizer.from_pretrained(os.path.join(SHARED, "llama3"))
    host.bos_token, host.eos_token = "<s>", "</s>"
    out = []
    for conv_name, conv in CONVERSATIONS.items():
        text = llama3.apply_chat_template(conv, tokenize=False)
        # Meta-Llama-3's template always ends with an assistant header; training stops before.
        header = "<|start_header_id|>assistant<|end_header_id|>\n\n"
        assert text.endswith(header)
        text = text[: -len(header)]
        ids = llama3(text, add_special_tokens=False)["input_ids"]
        out.append({"tokenizer": "llama3", "name": conv_name, "conversation": conv, "ids": ids})

        text = host.apply_chat_template(conv, chat_template=LLAMA2, tokenize=False)
        ids = []
        for piece in text.replace("<s>", "\0<s>\0").replace("</s>", "\0</s>\0").split("\0"):
            if piece == "<s>":
                ids.append(sp.bos_id())
            elif piece == "</s>":
                ids.append(sp.eos_id())
            elif piece:
                ids.extend(sp.encode(piece))
        out.append({"tokenizer": "llama2", "name": conv_name, "conversation": conv, "ids": ids})
    path = os.path.join(ROOT, "tests", "fixtures", "data", "sft_token_ids.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
    print(f"wrote {len(out)} tokenized conversations to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
    token_ids()
