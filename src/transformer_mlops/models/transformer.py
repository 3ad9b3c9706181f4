"""The Transformer of "Attention Is All You Need" (Vaswani et al., 2017), written out in full.

Read top to bottom, in the paper's order: masks, scaled dot-product attention (3.2.1),
multi-head attention (3.2.2), the position-wise feed-forward network (3.3), embeddings and
sinusoidal positional encoding (3.4, 3.5), encoder and decoder layers (3.1), the full
encoder-decoder, then decoding (greedy and beam search) with a key/value cache. References:
the Annotated Transformer (harvardnlp) and nanoGPT (karpathy), whose shape this file follows.

Plain PyTorch: no Lightning, no tracking. Shapes use B (batch), S (source length), T (target
length), h (heads), d_k (d_model / h).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from transformer_mlops.config import TransformerConfig

# ------------------------------------------------------------------------------------ masks


def padding_mask(ids: Tensor, pad_id: int) -> Tensor:
    """True where a key is a real token: (B, L) -> (B, 1, 1, L), broadcast over heads and queries."""
    return (ids != pad_id)[:, None, None, :]


def subsequent_mask(size: int, device: torch.device | None = None) -> Tensor:
    """Look-ahead mask: position t may attend to positions <= t. Shape (1, 1, T, T)."""
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()[None, None]


# -------------------------------------------------------------------------------- attention


def attention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None,
              dropout: nn.Module | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Scaled dot-product attention: softmax(Q K^T / sqrt(d_k) + mask) V.

    `mask` is boolean, True where attending is allowed; masked scores become the most negative
    float, so they get exactly zero weight and a row never becomes NaN. Returns (output, weights).
    """
    d_k = query.size(-1)
    scores = query @ key.transpose(-2, -1) / math.sqrt(d_k)  # (B, h, Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)  # exact zeros, even if a row is all masked
    if dropout is not None:
        weights = dropout(weights)
    return weights @ value, weights


class MultiHeadAttention(nn.Module):
    """h parallel attention heads over projected queries, keys and values (paper 3.2.2)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        assert config.d_model % config.n_heads == 0, "d_model must be divisible by n_heads"
        self.h = config.n_heads
        self.d_k = config.d_model // config.n_heads
        self.q_proj = nn.Linear(config.d_model, config.d_model)
        self.k_proj = nn.Linear(config.d_model, config.d_model)
        self.v_proj = nn.Linear(config.d_model, config.d_model)
        self.out_proj = nn.Linear(config.d_model, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.fused = config.fused_attention
        self.weights: Tensor | None = None  # last attention weights, when asked for

    def _split(self, x: Tensor) -> Tensor:
        B, L, _ = x.shape
        return x.view(B, L, self.h, self.d_k).transpose(1, 2)  # (B, h, L, d_k)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None,
                cache: dict | None = None, static_kv: bool = False,
                need_weights: bool = False) -> Tensor:  # fmt: skip
        """Attend from `query` (B, Tq, d_model) to `key`/`value` (B, Tk, d_model).

        With a `cache` dict, keys/values are kept between decoding steps: appended to for
        self-attention, computed once for cross-attention (`static_kv`, the encoder memory).
        """
        # 1) Project, then split d_model into h heads of d_k.
        q = self._split(self.q_proj(query))
        if cache is not None and static_kv and "k" in cache:
            k, v = cache["k"], cache["v"]
        else:
            k, v = self._split(self.k_proj(key)), self._split(self.v_proj(value))
            if cache is not None and not static_kv and "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)  # (B, h, t_past + Tq, d_k)
                v = torch.cat([cache["v"], v], dim=2)
            if cache is not None:
                cache["k"], cache["v"] = k, v
        # 2) Attend in every head at once. The fused kernel when the weights are not wanted;
        # not for CPU training with attention dropout, where torch's kernel falls back to its
        # own math path with slow dropout masks (ours measured ~10% faster, benchmarks/scratch.py).
        cpu_dropout = self.training and self.dropout.p > 0 and q.device.type == "cpu"
        if self.fused and not need_weights and not cpu_dropout:
            p = self.dropout.p if self.training else 0.0  # GPU training: the fused dropout
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        else:
            x, weights = attention(q, k, v, mask, self.dropout if self.training else None)
            self.weights = weights if need_weights else None  # no training graph kept alive
        # 3) Concatenate the heads and project back to d_model.
        B, _, Tq, _ = x.shape
        x = x.transpose(1, 2).contiguous().view(B, Tq, self.h * self.d_k)  # (B, Tq, d_model)
        return self.out_proj(x)


class FeedForward(nn.Module):
    """FFN(x) = max(0, x W1 + b1) W2 + b2, applied to each position alike (paper 3.3)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.w_1 = nn.Linear(config.d_model, config.d_ff)
        self.w_2 = nn.Linear(config.d_ff, config.d_model)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.w_2(self.dropout(F.relu(self.w_1(x))))


# ------------------------------------------------------------------- embeddings + positions


class PositionalEncoding(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(...) (paper 3.5)."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        position = torch.arange(config.max_len, dtype=torch.float32)[:, None]  # (max_len, 1)
        div_term = torch.exp(
            torch.arange(0, config.d_model, 2, dtype=torch.float32)
            * (-math.log(10000.0) / config.d_model)
        )  # 1 / 10000^(2i/d_model)
        pe = torch.zeros(config.max_len, config.d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe, persistent=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """Add encodings of positions offset .. offset+L to x (B, L, d_model)."""
        return self.dropout(x + self.pe[offset : offset + x.size(1)])


class Embeddings(nn.Module):
    """Token embeddings scaled by sqrt(d_model) (paper 3.4)."""

    def __init__(self, vocab_size: int, config: TransformerConfig):
        super().__init__()
        self.lut = nn.Embedding(vocab_size, config.d_model, padding_idx=config.pad_id)
        self.scale = math.sqrt(config.d_model)

    def forward(self, ids: Tensor) -> Tensor:
        return self.lut(ids) * self.scale


# ---------------------------------------------------------------------- encoder and decoder


class Sublayer(nn.Module):
    """Residual connection around a sublayer, with layer norm after (post-norm) or before."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.norm = nn.LayerNorm(config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.pre_norm = config.pre_norm

    def forward(self, x: Tensor, sublayer) -> Tensor:
        if self.pre_norm:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))


class EncoderLayer(nn.Module):
    """Self-attention, then feed-forward, each in a residual sublayer."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(config)
        self.ffn = FeedForward(config)
        self.sublayers = nn.ModuleList([Sublayer(config), Sublayer(config)])

    def forward(self, x: Tensor, src_mask: Tensor) -> Tensor:
        x = self.sublayers[0](x, lambda y: self.self_attn(y, y, y, src_mask))
        return self.sublayers[1](x, self.ffn)


class DecoderLayer(nn.Module):
    """Masked self-attention, cross-attention over the encoder output (memory), feed-forward."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.self_attn = MultiHeadAttention(config)
        self.cross_attn = MultiHeadAttention(config)
        self.ffn = FeedForward(config)
        self.sublayers = nn.ModuleList([Sublayer(config) for _ in range(3)])

    def forward(self, x: Tensor, memory: Tensor, src_mask: Tensor, tgt_mask: Tensor | None,
                cache: dict | None = None, need_weights: bool = False) -> Tensor:  # fmt: skip
        self_cache = cross_cache = None
        if cache is not None:
            self_cache, cross_cache = cache.setdefault("self", {}), cache.setdefault("cross", {})
        x = self.sublayers[0](x, lambda y: self.self_attn(y, y, y, tgt_mask, cache=self_cache))
        x = self.sublayers[1](
            x, lambda y: self.cross_attn(y, memory, memory, src_mask, cache=cross_cache,
                                         static_kv=True, need_weights=need_weights)
        )  # fmt: skip
        return self.sublayers[2](x, self.ffn)


class Transformer(nn.Module):
    """Encoder-decoder: embed + encode the source, decode the target, project to its vocabulary."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.src_embed = Embeddings(config.src_vocab_size, config)
        if config.share_src_tgt_embeddings:
            assert config.src_vocab_size == config.tgt_vocab_size, (
                "shared embeddings need one vocabulary"
            )
            self.tgt_embed = self.src_embed
        else:
            self.tgt_embed = Embeddings(config.tgt_vocab_size, config)
        self.positions = PositionalEncoding(config)
        self.encoder_layers = nn.ModuleList(
            [EncoderLayer(config) for _ in range(config.n_encoder_layers)]
        )
        self.decoder_layers = nn.ModuleList(
            [DecoderLayer(config) for _ in range(config.n_decoder_layers)]
        )
        # Pre-norm stacks end with a layer norm; post-norm layers already end normalised.
        self.encoder_norm = nn.LayerNorm(config.d_model) if config.pre_norm else nn.Identity()
        self.decoder_norm = nn.LayerNorm(config.d_model) if config.pre_norm else nn.Identity()
        self.generator = nn.Linear(config.d_model, config.tgt_vocab_size, bias=False)
        self._reset_parameters()
        if config.tie_embeddings:
            self.generator.weight = self.tgt_embed.lut.weight

    def _reset_parameters(self) -> None:
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        with torch.no_grad():
            self.src_embed.lut.weight.normal_(0.0, self.config.d_model**-0.5)
            self.tgt_embed.lut.weight.normal_(0.0, self.config.d_model**-0.5)
            self.src_embed.lut.weight[self.config.pad_id].zero_()
            self.tgt_embed.lut.weight[self.config.pad_id].zero_()

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """src (B, S) -> (memory (B, S, d_model), src_mask (B, 1, 1, S))."""
        src_mask = padding_mask(src, self.config.pad_id)
        x = self.positions(self.src_embed(src))
        for layer in self.encoder_layers:
            x = layer(x, src_mask)
        return self.encoder_norm(x), src_mask

    def decode(self, tgt: Tensor, memory: Tensor, src_mask: Tensor, cache: list[dict] | None = None,
               offset: int = 0, need_weights: bool = False) -> Tensor:  # fmt: skip
        """Decoder states for target ids (B, T). With a cache, `tgt` holds only the new
        position(s), starting at `offset`, and earlier keys/values come from the cache."""
        T = tgt.size(1)
        tgt_mask = subsequent_mask(offset + T, tgt.device)[:, :, offset:]  # (1, 1, T, offset+T)
        if cache is None:  # full target: no attending to padding, nor to the future
            tgt_mask = tgt_mask & padding_mask(tgt, self.config.pad_id)  # (B, 1, T, T)
        x = self.positions(self.tgt_embed(tgt), offset)
        for i, layer in enumerate(self.decoder_layers):
            x = layer(
                x, memory, src_mask, tgt_mask, None if cache is None else cache[i], need_weights
            )
        return self.decoder_norm(x)

    def forward(self, src: Tensor, tgt: Tensor) -> Tensor:
        """Teacher-forced logits (B, T, tgt_vocab) for target inputs `tgt` (B, T)."""
        memory, src_mask = self.encode(src)
        return self.generator(self.decode(tgt, memory, src_mask))

    def cross_attention_weights(self) -> list[Tensor]:
        """Per decoder layer, the cross-attention weights (B, h, T, S) of the last decode call
        made with need_weights=True."""
        return [layer.cross_attn.weights for layer in self.decoder_layers]


def build_model(config: TransformerConfig) -> Transformer:
    """The one factory: a Transformer from its config."""
    return Transformer(config)


# ---------------------------------------------------------------------------------- decoding


def _new_cache(model: Transformer) -> list[dict]:
    return [{} for _ in model.decoder_layers]


def _next_log_probs(model: Transformer, ys: Tensor, memory: Tensor, src_mask: Tensor,
                    cache: list[dict] | None) -> Tensor:  # fmt: skip
    """Log-probabilities of the next token after prefixes `ys` (N, t): (N, vocab).

    With a cache only the last token is run through the decoder (O(t) work per step);
    without one the whole prefix is (O(t^2)). Both give the same result.
    """
    if cache is None:
        states = model.decode(ys, memory, src_mask)
    else:
        states = model.decode(ys[:, -1:], memory, src_mask, cache, offset=ys.size(1) - 1)
    return model.generator(states[:, -1]).float().log_softmax(dim=-1)


@torch.no_grad()
def greedy_decode(model: Transformer, src: Tensor, bos_id: int, eos_id: int, max_len: int,
                  use_cache: bool = True) -> Tensor:  # fmt: skip
    """Most likely token at each step; returns ids (B, <= max_len), padded after EOS."""
    memory, src_mask = model.encode(src)
    ys = torch.full((src.size(0), 1), bos_id, dtype=torch.long, device=src.device)
    finished = torch.zeros(src.size(0), dtype=torch.bool, device=src.device)
    cache = _new_cache(model) if use_cache else None
    for _ in range(max_len):
        next_id = _next_log_probs(model, ys, memory, src_mask, cache).argmax(dim=-1)
        next_id = next_id.masked_fill(finished, model.config.pad_id)
        ys = torch.cat([ys, next_id[:, None]], dim=1)
        finished |= next_id == eos_id
        if finished.all():
            break
    return ys[:, 1:]


def length_penalty(lengths: Tensor, alpha: float) -> Tensor:
    """GNMT length normalisation ((5 + length) / 6) ** alpha (Wu et al., 2016)."""
    return ((5.0 + lengths.float()) / 6.0) ** alpha


@torch.no_grad()
def beam_search(model: Transformer, src: Tensor, bos_id: int, eos_id: int, max_len: int,
                beam_size: int = 4, alpha: float = 0.6, use_cache: bool = True) -> Tensor:  # fmt: skip
    """Keep the `beam_size` best prefixes per example; pick the best finished one by
    length-normalised log-probability. Returns ids (B, <= max_len), padded after EOS."""
    B, K, pad = src.size(0), beam_size, model.config.pad_id
    memory, src_mask = model.encode(src)
    memory, src_mask = memory.repeat_interleave(K, dim=0), src_mask.repeat_interleave(K, dim=0)
    ys = torch.full((B * K, 1), bos_id, dtype=torch.long, device=src.device)
    scores = torch.full((B, K), float("-inf"), device=src.device)
    scores[:, 0] = 0.0  # all beams start identical: keep one alive
    finished = torch.zeros(B * K, dtype=torch.bool, device=src.device)
    lengths = torch.zeros(B * K, dtype=torch.long, device=src.device)
    cache = _new_cache(model) if use_cache else None
    offsets = torch.arange(B, device=src.device)[:, None] * K  # first beam row of each example
    for _ in range(max_len):
        log_probs = _next_log_probs(model, ys, memory, src_mask, cache)  # (B*K, V)
        V = log_probs.size(-1)
        # A finished beam can only continue with padding, at no cost.
        log_probs[finished] = float("-inf")
        log_probs[finished, pad] = 0.0
        candidates = (scores.view(-1, 1) + log_probs).view(B, K * V)
        scores, index = candidates.topk(K, dim=-1)  # (B, K)
        rows = (offsets + index // V).view(-1)  # which beam each survivor extends
        next_id = (index % V).view(-1)
        ys = torch.cat([ys[rows], next_id[:, None]], dim=1)
        lengths = lengths[rows] + (~finished[rows]).long()
        finished = finished[rows] | (next_id == eos_id)
        if cache is not None:
            for layer_cache in cache:  # self-attention keys/values follow their beams
                layer_cache["self"] = {
                    k: v.index_select(0, rows) for k, v in layer_cache["self"].items()
                }
        if finished.all():
            break
    normalised = scores.view(-1) / length_penalty(lengths, alpha)
    best = normalised.view(B, K).argmax(dim=-1)
    return ys[offsets.view(-1) + best, 1:]
