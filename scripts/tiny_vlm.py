#!/usr/bin/env python3
"""Write a tiny, never-downloaded vision-language model as two GGUF files.

  tiny-vlm.gguf         llama-architecture text model (2 layers, hidden 64,
                        ~590-token byte-level BPE vocab trained here with the
                        `tokenizers` package) + a Qwen2.5-style ChatML Jinja
                        chat template with Hermes <tool_call> blocks, all in
                        GGUF metadata.
  tiny-vlm-mmproj.gguf  gemma3-type vision projector (1-layer SigLIP-like ViT,
                        64x64 input, 8x8 patches, 2x2 avg-pool -> 16 image
                        tokens) projecting to the text width (64).

The weights are random where it does not matter and hand-set where it does, so
that the model is a small deterministic machine under llama.cpp's grammars:
  * plain chat: answers " Hello! I am a tiny test model." then <|im_end|>;
  * tools offered (the system prompt contains <tool_call>): every turn starts
    with <tool_call>, and the server's tool-call grammar turns that into one
    valid call whose string arguments are " Hello! I am a tiny test model.",
    e.g. <tool_call>\n {"name":"read_file","arguments":{"path":" Hello! ..."}}</tool_call>
    (text2image when it is offered: its name is one favoured token), so an
    agent run makes images every round until its round limit
    (layer 0 / head 0 is the "<tool_call> present" detector; it only fires at
    "\n" positions, i.e. after "assistant\n");
  * JSON closes quickly: '}' / ']' / '"' carry constant biases, optional
    whitespace is penalised, and "." is followed by '"' inside strings.
Images are encoded (random projector) but do not change the answer.

Usage: tiny_vlm.py OUT_DIR   (writes OUT_DIR/tiny-vlm.gguf and
                                   OUT_DIR/tiny-vlm-mmproj.gguf atomically)
Needs: numpy, gguf (GGUFWriter), tokenizers.  Deterministic (fixed seeds).
Note: every tensor must be float32 -- an f64 tensor makes llama.cpp segfault.
"""
import os
import sys

import numpy as np
import gguf

_orig_add_tensor = gguf.GGUFWriter.add_tensor


def _add_tensor_f32(self, name, tensor, *a, **kw):
    assert tensor.dtype == np.float32, (name, tensor.dtype)
    return _orig_add_tensor(self, name, tensor, *a, **kw)


gguf.GGUFWriter.add_tensor = _add_tensor_f32
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

SEED = 1234

# ---------------------------------------------------------------- text model
N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 4
N_FF = 128
N_CTX_TRAIN = 32768   # llama.cpp caps the served context at this
RMS_EPS = 1e-5
VOCAB_TARGET = 1024

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # CONTROL tokens
USER_DEFINED = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]  # like Qwen3

# Qwen2.5-Instruct chat template (ChatML with Hermes-style <tool_call> blocks).
CHAT_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a tiny test model. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are a tiny test model. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

# the sentence the model "says"; each entry must be a single BPE token
CHAIN = [" Hello", "!", " I", " am", " a", " tiny", " test", " model", "."]

CORPUS = [
    "Hi. Hello! I am a tiny test model. Hello! I am a tiny test model.",
    "You are a tiny test model. You are a helpful assistant.",
    "system user assistant tool function name arguments description parameters",
    "type object string number integer boolean array properties required enum",
    '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}',
    '{"type": "function", "function": {"name": "read_file", "description": "Read a file", '
    '"parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}',
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n",
    "You are provided with function signatures within <tools></tools> XML tags:\n",
    "For each function call, return a json object with function name and arguments within XML tags:\n",
    "<tools> </tools>\n\n<tool_call>\n  {\"name\": 1}\n</tool_call>",
    "What is in this image? Describe the picture. What is the weather like in Paris today?\n\n",
    "the of and to in is it that for on with as was be this are by at from or an",
    "0 1 2 3 4 5 6 7 8 9 10 42 100 2024 3.14 -1 true false null",
    "file path line code error test run build read write list search open close",
    '{"name": "text2image", "arguments": {"prompts": ["a red circle"]}}',
]

# The tool the model calls when it may choose: maia's text2image, so a run's first tool
# result carries images the model is then sent. Its first BPE token ("text"; the byte-level
# pre-tokenizer splits off digits) is favoured, and the grammar completes the name.
PREFERRED_TOOL = "text"


def build_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_TARGET - len(SPECIALS) - len(USER_DEFINED),
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 20, trainer=trainer)
    vocab = tok.get_vocab()                       # str -> id
    import json
    merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in merges]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    types = [gguf.TokenType.NORMAL] * len(tokens)
    for t in USER_DEFINED:
        tokens.append(t)
        types.append(gguf.TokenType.USER_DEFINED)
    for t in SPECIALS:
        tokens.append(t)
        types.append(gguf.TokenType.CONTROL)
    return tokens, types, merges


def byte_level(s):
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, (chr(c) for c in cs)))
    return "".join(table[b] for b in s.encode("utf-8"))


# Residual-stream layout of the text model (N_EMBD = 64):
#   dim 0          constant 1 for every token ("bias" channel)
#   dims 1..K      one-hot for the "named" tokens below
#   dims K+1..62   random unit vector for every other token
#   dim 63         T = "tools offered and no tool result yet", written by
#                  layer 0 / head 0 at "\n" positions only
T_DIM = N_EMBD - 1


def write_text_model(path):
    rng = np.random.default_rng(SEED)
    tokens, types, merges = build_tokenizer()
    V = len(tokens)
    tid = {t: i for i, t in enumerate(tokens)}
    bl = lambda s: tid[byte_level(s)]
    chain = [bl(w) for w in CHAIN]
    assert len(set(chain)) == len(chain)
    im_end = tid["<|im_end|>"]
    quote, lbrace, rbrace, rbrack = bl('"'), bl("{"), bl("}"), bl("]")
    nl, nlnl, nl_sp = bl("\n"), bl("\n\n"), bl("\n ")
    tc_open, tc_close, tr_open = tid["<tool_call>"], tid["</tool_call>"], tid["<tool_response>"]

    named = chain + [quote, nl, nlnl, nl_sp, tc_open, tc_close, tr_open]
    K = len(named)
    dim = {t: 1 + j for j, t in enumerate(named)}
    E = np.zeros((V, N_EMBD), dtype=np.float32)
    E[:, 0] = 1.0
    for t in named:
        E[t, dim[t]] = 1.0
    others = [t for t in range(V) if t not in dim]
    R = rng.standard_normal((len(others), T_DIM - 1 - K)).astype(np.float32)
    R /= np.linalg.norm(R, axis=1, keepdims=True)
    E[others, 1 + K:T_DIM] = R
    s = float(np.sqrt(N_EMBD / 2.0))   # rmsnorm(E[t]) == s * E[t]

    # ---- output matrix: logit_i ~= W[i] . rmsnorm(h) = (bias_i + succ_i(t) + g_i * T) * s_eff / s
    W = (0.05 / s) * rng.standard_normal((V, N_EMBD)).astype(np.float32)
    # constant logit of every token (used whenever the grammar masks the
    # favourites): ordinary tokens -4, whitespace -8, JSON punctuation higher
    const = {}
    for t, text in enumerate(tokens):
        if types[t] == gguf.TokenType.NORMAL:
            const[t] = -8.0 if all(ch in "ĠĊĉč" for ch in text) else -4.0
    const.update({chain[0]: 8.0,            # default: start the sentence
                  tc_close: 5.0, im_end: 3.0,
                  rbrace: 4.0, rbrack: 4.0,  # close JSON objects / arrays early
                  lbrace: 3.0, quote: 2.0, bl("["): 1.0, bl(":"): 1.0, bl(","): 1.0,
                  tc_open: 0.0})
    if byte_level(PREFERRED_TOOL) in tid:
        const[tid[byte_level(PREFERRED_TOOL)]] = 2.0
    for t, b in const.items():
        W[t, 0] += b / s
    # "after pred comes tok": total logit of tok at pred
    def after(pred, tok, total):
        W[tok, dim[pred]] += (total - const.get(tok, 0.0)) / s
    for p, n in zip(chain, chain[1:]):
        after(p, n, 20.0)                  # " Hello" "!" " I" ... "."
    after(chain[-1], im_end, 20.0)         # "." -> <|im_end|>
    after(chain[-1], nlnl, 17.0)           #     (if EOS is masked)  -> "\n\n"
    after(chain[-1], quote, 14.0)          #     (in a JSON string)  -> '"'
    after(nlnl, tc_open, 20.0)             # "\n\n" -> <tool_call>
    after(tc_open, nl_sp, 20.0)            # <tool_call> -> "\n " (not "\n": see T below)
    after(nl_sp, lbrace, 20.0)             # "\n " -> "{"
    after(tc_close, im_end, 20.0)          # </tool_call> -> <|im_end|>
    W[tc_open, T_DIM] += 14.0 / s          # tools offered (T~1) -> open a tool call

    w = gguf.GGUFWriter(path, "llama")
    w.add_name("tiny-vlm (random test model)")
    w.add_context_length(N_CTX_TRAIN)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_rope_freq_base(1e12)   # head-0 dims 8/9 then rotate < 0.05 rad over 32k positions
    w.add_layer_norm_rms_eps(RMS_EPS)
    w.add_vocab_size(V)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tid["<|endoftext|>"])
    w.add_eos_token_id(im_end)
    w.add_eot_token_id(im_end)
    w.add_pad_token_id(tid["<|endoftext|>"])
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)

    def rnd(*shape, std=0.01):
        return (std * rng.standard_normal(shape)).astype(np.float32)
    zeros = lambda *shape: np.zeros(shape, dtype=np.float32)
    hd = N_EMBD // N_HEAD

    # layer 0, head 0: at "\n" positions, attend to <tool_call> (score 25),
    # whose value is written to residual dim T.  Everything else in layer 0 is
    # zero.  (A key on <tool_response> would make the model answer in plain text
    # after a tool result instead.)
    q0, k0, v0, o0 = zeros(N_EMBD, N_EMBD), zeros(N_EMBD, N_EMBD), zeros(N_EMBD, N_EMBD), zeros(N_EMBD, N_EMBD)
    c = 8                                # head-0 dim 8 (rope pair 4)
    q0[c, dim[nl]] = 10.0 / s
    k0[c, dim[tc_open]] = 10.0 / s       # q.k * 1/sqrt(16) = 25
    v0[c, dim[tc_open]] = 1.0 / s
    o0[T_DIM, c] = 1.0
    layers = [
        dict(q=q0, k=k0, v=v0, o=o0, gate=zeros(N_FF, N_EMBD), up=zeros(N_FF, N_EMBD), down=zeros(N_EMBD, N_FF)),
    ]
    for _ in range(1, N_LAYER):          # remaining layers: small random weights
        layers.append(dict(q=rnd(N_EMBD, N_EMBD), k=rnd(N_HEAD_KV * hd, N_EMBD), v=rnd(N_HEAD_KV * hd, N_EMBD),
                           o=rnd(N_EMBD, N_EMBD), gate=rnd(N_FF, N_EMBD), up=rnd(N_FF, N_EMBD), down=rnd(N_EMBD, N_FF)))

    w.add_tensor("token_embd.weight", E)
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    w.add_tensor("output.weight", W)
    for i, L in enumerate(layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(p + "attn_q.weight", L["q"])
        w.add_tensor(p + "attn_k.weight", L["k"])
        w.add_tensor(p + "attn_v.weight", L["v"])
        w.add_tensor(p + "attn_output.weight", L["o"])
        w.add_tensor(p + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        w.add_tensor(p + "ffn_gate.weight", L["gate"])
        w.add_tensor(p + "ffn_up.weight", L["up"])
        w.add_tensor(p + "ffn_down.weight", L["down"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return K


# ------------------------------------------------------------ vision projector
V_IMAGE = 64      # input resolution (square)
V_PATCH = 8       # -> 8x8 = 64 patches
V_MERGE = 2       # gemma3 avg-pool kernel -> 4x4 = 16 image tokens
V_EMBD = 32
V_HEAD = 2
V_FF = 48
V_LAYER = 1


def write_mmproj(path):
    rng = np.random.default_rng(SEED + 1)

    def rnd(*shape, std=0.02):
        return (std * rng.standard_normal(shape)).astype(np.float32)

    n_patches = (V_IMAGE // V_PATCH) ** 2
    w = gguf.GGUFWriter(path, "clip")
    w.add_name("tiny-vlm mmproj (random test projector)")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "gemma3")
    w.add_bool("clip.use_gelu", True)
    w.add_uint32("clip.vision.image_size", V_IMAGE)
    w.add_uint32("clip.vision.patch_size", V_PATCH)
    w.add_uint32("clip.vision.embedding_length", V_EMBD)
    w.add_uint32("clip.vision.feed_forward_length", V_FF)
    w.add_uint32("clip.vision.block_count", V_LAYER)
    w.add_uint32("clip.vision.attention.head_count", V_HEAD)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_uint32("clip.vision.projection_dim", N_EMBD)
    w.add_uint32("clip.vision.projector.scale_factor", V_MERGE)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])

    w.add_tensor("v.patch_embd.weight", rnd(V_EMBD, 3, V_PATCH, V_PATCH))
    w.add_tensor("v.patch_embd.bias", np.zeros(V_EMBD, dtype=np.float32))
    w.add_tensor("v.position_embd.weight", rnd(n_patches, V_EMBD))
    for i in range(V_LAYER):
        p = f"v.blk.{i}."
        for n in ("attn_q", "attn_k", "attn_v", "attn_out"):
            w.add_tensor(p + n + ".weight", rnd(V_EMBD, V_EMBD))
            w.add_tensor(p + n + ".bias", np.zeros(V_EMBD, dtype=np.float32))
        for n in ("ln1", "ln2"):
            w.add_tensor(p + n + ".weight", np.ones(V_EMBD, dtype=np.float32))
            w.add_tensor(p + n + ".bias", np.zeros(V_EMBD, dtype=np.float32))
        w.add_tensor(p + "ffn_up.weight", rnd(V_FF, V_EMBD))
        w.add_tensor(p + "ffn_up.bias", np.zeros(V_FF, dtype=np.float32))
        w.add_tensor(p + "ffn_down.weight", rnd(V_EMBD, V_FF))
        w.add_tensor(p + "ffn_down.bias", np.zeros(V_EMBD, dtype=np.float32))
    w.add_tensor("v.post_ln.weight", np.ones(V_EMBD, dtype=np.float32))
    w.add_tensor("v.post_ln.bias", np.zeros(V_EMBD, dtype=np.float32))
    # numpy (V_EMBD, N_EMBD) -> ggml ne = [N_EMBD, V_EMBD]; clip_n_mmproj_embd = ne[0]
    proj = rnd(V_EMBD, N_EMBD)
    proj[:, :1 + N_NAMED] = 0.0
    proj[:, T_DIM] = 0.0
    w.add_tensor("mm.input_projection.weight", proj)
    w.add_tensor("mm.soft_emb_norm.weight", np.ones(V_EMBD, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    global N_NAMED
    for name, fn in (("tiny-vlm.gguf", write_text_model), ("tiny-vlm-mmproj.gguf", write_mmproj)):
        final = os.path.join(out, name)
        tmp = final + f".tmp{os.getpid()}"
        r = fn(tmp)
        if name == "tiny-vlm.gguf":
            N_NAMED = r
        os.replace(tmp, final)
        print(f"wrote {final} ({os.path.getsize(final)} bytes)")


if __name__ == "__main__":
    main()
