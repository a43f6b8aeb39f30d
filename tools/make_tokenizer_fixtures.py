#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizer/: a corpus of awkward strings and the ids the reference
tokenizers give them (HF `tokenizers` for Llama-3 and Qwen3, `sentencepiece` for Llama 2, and a
line-by-line Python port of llama2.c's encode for stories260K's tok512.bin), plus ids for lines
of GSM8K and the medical sets that the test reads from ../shared at run time (only the line
number, field and an FNV-1a hash of the text are committed).

Run from the repository root: .venv/bin/python tools/make_tokenizer_fixtures.py
"""
import json
import os
import random
import struct
import unicodedata

from tokenizers import Tokenizer
import sentencepiece

SHARED = os.environ.get("PRIORFT_SHARED", "../shared")
OUT = "tests/fixtures/tokenizer"


def corpus():
    s = []
    s += ["", " ", "  ", "a", "Hello world", "Hello, world!", " leading space", "trailing  ",
          "\t\ttabs\tinside", "line1\nline2", "crlf\r\nline", "\r\n\r\n", "\n\n\n", "   \n  x",
          "multiple     spaces   here", "x \n", "a\u00a0b", "a\u2003b\u3000c", "a\u0085b",
          "a\u2028b\u2029c", "a\u200bb", "\u202f\u205f \u1680 end", "\x0b\x0c form"]
    words = ["it", "IT", "She", "they", "WE", "you", "He", "I", "o"]
    for c in ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M",
              "'LL", "'D", "'x", "'"]:
        s.append(f"{random.choice(words)}{c} fine {c}{c}")
    s += ["don't", "DON'T", "y'all'd've", "rock 'n' roll", "'tis", "''", "it\u2019s",
          "'\u017f long s"]
    for n in [0, 7, 42, 123, 1234, 12345, 123456, 1234567, 12345678901234567890]:
        s += [str(n), f"x{n}y", f" {n} ", f"{n}.{n}", f"-{n}", f"{n:,}"]
    s += ["3.14159265358979", "1e-10", "0x1F2E", "2024-12-03", "$1,299.99", "50%",
          "\u0661\u0662\u0663 arabic digits", "\u0967\u0968\u0969 devanagari digits",
          "\uff11\uff12\uff13 fullwidth", "\u00bd \u2153 \u00b2 \u2460 numbers", "\u216b roman"]
    scripts = [
        "日本語のテキストです。東京は大きい都市です。", "中文文本，包括标点符号。你好世界！",
        "简体和繁體中文混合", "한국어 텍스트입니다. 안녕하세요!", "مرحبا بالعالم، هذا نص عربي.",
        "שלום עולם, זה טקסט בעברית.", "नमस्ते दुनिया, यह हिंदी पाठ है।", "สวัสดีชาวโลก นี่คือข้อความภาษาไทย",
        "Привет, мир! Это русский текст.", "Γειά σου Κόσμε! Ελληνικά.", "Ça va? Où est l'hôtel?",
        "Größe Straße Übermäßig", "Tiếng Việt có dấu", "ქართული ენა", "Հայերեն", "አማርኛ",
        "தமிழ் மொழி", "বাংলা ভাষা", "ਪੰਜਾਬੀ", "ພາສາລາວ", "ខ្មែរ", "မြန်မာ", "ᠮᠣᠩᠭᠣᠯ",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙", "Ｆｕｌｌｗｉｄｔｈ", "ｶﾀｶﾅ半角", "mixed English和中文and العربية",
    ]
    s += scripts
    emoji = ["😀", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇯🇵🇺🇸🇩🇪", "❤️", "🧑🏿‍💻", "👩🏻‍🦰", "🤷‍♂️",
             "1️⃣", "#️⃣", "🫠", "🦀 rust", "emoji😀in😀text", "😀😀😀😀😀😀😀😀"]
    s += emoji + [" ".join(emoji)]
    # combining marks and NFC/NFD pairs
    for w in ["café", "naïve", "Ångström", "résumé", "Việt", "한글", "ñandú", "é"]:
        s += [unicodedata.normalize("NFC", w), unicodedata.normalize("NFD", w)]
    s += ["e\u0301\u0301\u0301", "a\u0308\u0304", "\u0301 leading mark", "Z\u0351\u036b\u0343",
          "\u1e9b\u0323", "\u212b", "\u2126", "\ufb01 ligature", "\u00c5\u030a"]
    code = [
        "def f(x):\n    return x ** 2\n", "int main(void) { return 0; }",
        "for (int i = 0; i < n; i++) {\n\tsum += a[i];\n}",
        "fn main() {\n    println!(\"{}\", 1 + 2);\n}", "const x = () => { return [1, 2, 3]; };",
        "SELECT * FROM users WHERE id = 42;", "<div class=\"a\">Hi &amp; bye</div>",
        "#include <stdio.h>\n", "    indented\n        more\n", "if x != None and y >= 3:",
        "print(f'{x!r:>10}')", "a->b->c", "x+=1;y-=2;z*=3", "/* comment */ // line",
        "$ ls -la | grep foo > out.txt 2>&1", "{\"key\": [1, 2, {\"n\": null}]}",
        "\\begin{equation} \\frac{a}{b} = \\sqrt{x^2} \\end{equation}", "http://example.com/a?b=c&d=e",
        "user@example.com", "C:\\Users\\me\\file.txt", "~~~~~~~~~~", "----====----", "!!!???...",
        "«quotes» “curly” ‘single’", "em—dash – en", "…", "<<48/2=24>>24", "#### 72",
    ]
    s += code
    specials = ["<|begin_of_text|>Hello", "a<|end_of_text|>b", "<|im_start|>user\nhi<|im_end|>",
                "x <|im_start|> y", "<|eot_id|><|start_header_id|>", "<|im_start|><|im_start|>",
                "<|endoftext|>", "<think>\nreason\n</think>", "<tool_call>{}</tool_call>",
                "<s>sentence</s>", "<|not_a_token|>", "<|im_start", "<|reserved_special_token_5|>"]
    s += specials
    s += ["a" * 300, "ab" * 150, " " * 100, "\n" * 50, "x" + " " * 40 + "y", "9" * 100,
          "é" * 60, "😀" * 30, "the " * 80]
    # random mixtures of the above, for density
    pool = "".join(scripts + emoji + code) + " \n\t'0123456789"
    rng = random.Random(1234)
    while len(s) < 520:
        k = rng.randint(1, 40)
        s.append("".join(rng.choice(pool) for _ in range(k)))
    return s


def shared_lines():
    """(path, line number, field, text) for lines of GSM8K and the medical sets."""
    picks = [("data/gsm8k/train.jsonl", ["question", "answer"], 70),
             ("data/medical/medqa_test.jsonl", ["question"], 25),
             ("data/medical/medmcqa_test.jsonl", ["question"], 25),
             ("data/medical/pubmedqa_test.jsonl", ["question"], 25),
             ("data/medical/mmlu-pro_test.jsonl", ["question"], 25)]
    out = []
    for path, fields, count in picks:
        with open(os.path.join(SHARED, path), encoding="utf-8") as f:
            lines = f.read().split("\n")
        step = max(1, len(lines) // count)
        for i in range(0, len(lines), step)[:count]:
            if not lines[i].strip():
                continue
            row = json.loads(lines[i])
            for field in fields:
                if isinstance(row.get(field), str):
                    out.append((path, i + 1, field, row[field]))
    return out


def llama2c_encode(vocab, scores, text):
    """llama2.c run.c's encode (dummy prefix, per-codepoint lookup with byte fallback +3, then
    best-score merges), ported to Python as an independent reference for tok512.bin."""
    index = {}
    for i, p in enumerate(vocab):
        index.setdefault(p, i)
    ids = []
    if text:
        ids.append(index[b" "])
    data = text.encode("utf-8")
    i = 0
    while i < len(data):
        j = i + 1
        while j < len(data) and (data[j] & 0xC0) == 0x80 and j - i < 4:
            j += 1
        ch = data[i:j]
        if ch in index:
            ids.append(index[ch])
        else:
            ids += [b + 3 for b in ch]
        i = j
    while True:
        best, best_i, best_id = -1e10, -1, -1
        for k in range(len(ids) - 1):
            m = vocab[ids[k]] + vocab[ids[k + 1]]
            if m in index and scores[index[m]] > best:
                best, best_i, best_id = scores[index[m]], k, index[m]
        if best_i < 0:
            break
        ids[best_i:best_i + 2] = [best_id]
    return ids


def read_llama2c(path):
    with open(path, "rb") as f:
        data = f.read()
    pos, vocab, scores = 4, [], []
    while pos < len(data):
        score, n = struct.unpack_from("<fi", data, pos)
        vocab.append(data[pos + 8:pos + 8 + n])
        scores.append(score)
        pos += 8 + n
    return vocab, scores


def fnv1a64(data):
    """FNV-1a, 64 bit: the test recomputes it on the line it reads from ../shared."""
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def b36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        out = digits[n % 36] + out
        n //= 36
        if n == 0:
            return out


def apply_ignore_merges(tok, vocab, added, enc):
    """tokenizers 0.15 predates BPE's ignore_merges (0.19; Llama-3 sets it): a pre-token that
    is itself in the vocabulary is one token. Applied here from HF's own pre-token grouping
    (word ids), which is what newer tokenizers and tiktoken do."""
    ids, out, i = enc.ids, [], 0
    while i < len(ids):
        j = i
        while j < len(ids) and enc.word_ids[j] == enc.word_ids[i]:
            j += 1
        group = ids[i:j]
        whole = "".join(tok.id_to_token(x) for x in group)
        if len(group) > 1 and not (set(group) & added) and whole in vocab:
            out.append(vocab[whole])
        else:
            out += group
        i = j
    return out


def write_ids(name, rows):
    """One line per text: 'R' when the reference decodes the ids back to the text exactly, '-'
    otherwise, then the ids in base 36."""
    with open(os.path.join(OUT, name), "w") as f:
        for flag, ids in rows:
            f.write(("R" if flag else "-") + "".join(" " + b36(i) for i in ids) + "\n")


def main():
    random.seed(7)
    os.makedirs(OUT, exist_ok=True)
    texts = corpus()
    lines = shared_lines()
    with open(os.path.join(OUT, "corpus.json"), "w") as f:
        json.dump(texts, f, ensure_ascii=True, indent=0)
    with open(os.path.join(OUT, "shared_lines.txt"), "w") as f:
        for path, lineno, field, text in lines:
            f.write(f"{path} {lineno} {field} {fnv1a64(text.encode('utf-8')):016x}\n")
    all_texts = texts + [t for _, _, _, t in lines]

    for name in ["llama3", "qwen3"]:
        d = json.load(open(os.path.join(SHARED, f"tokenizers/{name}/tokenizer.json")))
        # tokenizers 0.15 reads only the "a b" form of merges; byte-level tokens hold no spaces
        d["model"]["merges"] = [m if isinstance(m, str) else " ".join(m)
                                for m in d["model"]["merges"]]
        tok = Tokenizer.from_str(json.dumps(d))
        vocab = d["model"]["vocab"]
        added = {a["id"] for a in d["added_tokens"]}
        if d["model"].get("ignore_merges"):
            encode = lambda t: apply_ignore_merges(tok, vocab, added,
                                                   tok.encode(t, add_special_tokens=False))
        else:
            encode = lambda t: tok.encode(t, add_special_tokens=False).ids
        rows, plain = [], []
        for t in all_texts:
            ids = encode(t)
            rows.append((tok.decode(ids, skip_special_tokens=False) == t, ids))
        tok.encode_special_tokens = True
        for t in texts:  # the corpus only: shared lines hold no special tokens
            ids = encode(t)
            plain.append((tok.decode(ids, skip_special_tokens=False) == t, ids))
        write_ids(f"{name}.ids", rows)
        write_ids(f"{name}_nospecial.ids", plain)

    sp = sentencepiece.SentencePieceProcessor(
        model_file=os.path.join(SHARED, "tokenizers/llama2/tokenizer.model"))
    rows = []
    vocab2, scores2 = read_llama2c(os.path.join(SHARED, "tokenizers/llama2/tokenizer.bin"))
    for k, t in enumerate(all_texts):
        ids = sp.encode(t)
        rows.append((sp.decode(ids) == t, ids))
        if k < 40 and "\u2581" not in t:  # the port agrees with sentencepiece (sanity check)
            vocab_sp = [p.replace(b"\xe2\x96\x81", b" ") for p in vocab2]
            assert llama2c_encode(vocab_sp, scores2, t) == ids, t
    write_ids("llama2.ids", rows)

    vocab, scores = read_llama2c(os.path.join(SHARED, "models/stories260K/tok512.bin"))
    rows = [(False, llama2c_encode(vocab, scores, t)) for t in texts]
    write_ids("tok512.ids", rows)
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"{len(texts)} corpus strings, {len(lines)} shared lines, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
