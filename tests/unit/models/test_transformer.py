"""The from-scratch Transformer: formulas, masks, equivalences, decoding, and that it learns."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from transformer_mlops.config import TransformerConfig
from transformer_mlops.models.transformer import (
    MultiHeadAttention,
    PositionalEncoding,
    attention,
    beam_search,
    build_model,
    greedy_decode,
    padding_mask,
    subsequent_mask,
)

BOS, EOS, PAD = 1, 2, 0
TINY = TransformerConfig(src_vocab_size=20, tgt_vocab_size=20, d_model=32, n_heads=4, d_ff=64,
                         n_encoder_layers=2, n_decoder_layers=2, dropout=0.0, max_len=64)  # fmt: skip


def tiny(**changes) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(replace(TINY, **changes)).eval()


def test_positional_encoding_matches_the_formula():
    pe = PositionalEncoding(replace(TINY, d_model=16)).pe
    for pos in (0, 1, 7, 63):
        for i in range(8):
            angle = pos / 10000 ** (2 * i / 16)
            assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_embeddings_are_scaled_and_positions_added():
    model = tiny()
    ids = torch.tensor([[3, 4, 5]])
    expected = model.src_embed.lut(ids) * math.sqrt(TINY.d_model) + model.positions.pe[:3]
    assert torch.allclose(model.positions(model.src_embed(ids)), expected)


def _qkv(B=2, h=4, Tq=5, Tk=7, d=8):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(B, h, Tq, d, generator=g), torch.randn(B, h, Tk, d, generator=g),
            torch.randn(B, h, Tk, d, generator=g))  # fmt: skip


def test_attention_equals_torch_sdpa_with_the_same_masks():
    q, k, v = _qkv(Tq=6, Tk=6)
    keys = torch.tensor([[3, 4, 5, 6, 0, 0], [3, 4, 5, 6, 7, 8]])
    for mask in (None, padding_mask(keys, PAD), padding_mask(keys, PAD) & subsequent_mask(6)):
        ours, _ = attention(q, k, v, mask)
        theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        assert torch.allclose(ours, theirs, atol=1e-5)


def test_attention_rows_sum_to_one_and_masked_keys_get_exactly_zero():
    q, k, v = _qkv()
    keys = torch.tensor([[3, 4, 5, 0, 0, 0, 0], [3, 4, 5, 6, 7, 8, 9]])
    mask = padding_mask(keys, PAD)
    _, weights = attention(q, k, v, mask)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 5))
    assert (weights[0, :, :, 3:] == 0).all()
    _, causal = attention(*_qkv(Tq=5, Tk=5), subsequent_mask(5))
    assert (causal.triu(diagonal=1) == 0).all()


def test_fused_and_readable_multi_head_attention_agree():
    torch.manual_seed(2)
    mha = MultiHeadAttention(TINY).eval()
    x, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
    mask = padding_mask(torch.tensor([[3] * 5 + [0] * 2, [3] * 7]), PAD)
    fused = mha(x, memory, memory, mask)
    readable = mha(x, memory, memory, mask, need_weights=True)
    assert torch.allclose(fused, readable, atol=1e-5)
    assert mha.weights.shape == (2, 4, 5, 7)


def test_cpu_training_with_attention_dropout_uses_our_dropout_module():
    """Training on CPU with dropout goes through `attention` and the module's own dropout
    (which the training stages swap for FastDropout), not torch's fused-kernel dropout."""
    from dataclasses import replace

    from transformer_mlops.models.fast_dropout import use_fast_dropout

    mha = MultiHeadAttention(replace(TINY, dropout=0.3)).train()
    use_fast_dropout(mha)
    x = torch.randn(2, 5, 32)
    torch.manual_seed(4)
    out = mha(x, x, x)
    q, k, v = (mha._split(proj(x)) for proj in (mha.q_proj, mha.k_proj, mha.v_proj))
    torch.manual_seed(4)
    expected, weights = attention(q, k, v, None, mha.dropout)
    assert (weights == 0).any()  # some attention weights were dropped
    expected = mha.out_proj(expected.transpose(1, 2).reshape(2, 5, 32))
    assert torch.allclose(out, expected, atol=1e-6)


def test_shapes():
    model = tiny()
    src, tgt = torch.randint(3, 20, (3, 9)), torch.randint(3, 20, (3, 6))
    assert model(src, tgt).shape == (3, 6, 20)
    memory, src_mask = model.encode(src)
    assert memory.shape == (3, 9, 32) and src_mask.shape == (3, 1, 1, 9)


@pytest.mark.parametrize("pre_norm", [False, True])
def test_decoder_is_causal(pre_norm):
    model = tiny(pre_norm=pre_norm)
    src, tgt = torch.randint(3, 20, (2, 8)), torch.randint(3, 20, (2, 6))
    base = model(src, tgt)
    changed = tgt.clone()
    changed[:, 4] = (changed[:, 4] + 1) % 17 + 3  # perturb target position t+1 = 4
    out = model(src, changed)
    assert torch.allclose(base[:, :4], out[:, :4], atol=1e-6)  # positions <= 3 unchanged
    assert not torch.allclose(base[:, 4:], out[:, 4:])


def test_padding_does_not_change_real_positions():
    model = tiny(pre_norm=True)
    src, tgt = torch.randint(3, 20, (1, 7)), torch.randint(3, 20, (1, 5))
    base = model(src, tgt)
    padded = model(F.pad(src, (0, 4), value=PAD), F.pad(tgt, (0, 3), value=PAD))
    assert torch.allclose(base, padded[:, :5], atol=1e-5)


def test_weight_tying_shares_embedding_and_output_projection():
    model = tiny()
    assert model.generator.weight is model.tgt_embed.lut.weight
    untied = tiny(tie_embeddings=False)
    assert untied.generator.weight is not untied.tgt_embed.lut.weight


@pytest.mark.parametrize("pre_norm", [False, True])
def test_cached_and_uncached_decoding_give_the_same_output(pre_norm):
    model = tiny(pre_norm=pre_norm)
    src = torch.tensor([[5, 6, 7, 8, 9, 0, 0], [9, 8, 7, 6, 5, 4, 3]])
    for decode in (lambda c: greedy_decode(model, src, BOS, EOS, 12, use_cache=c),
                   lambda c: beam_search(model, src, BOS, EOS, 12, beam_size=4, use_cache=c)):  # fmt: skip
        assert torch.equal(decode(True), decode(False))


def test_beam_search_with_beam_one_is_greedy():
    model = tiny()
    src = torch.randint(3, 20, (3, 6))
    assert torch.equal(beam_search(model, src, BOS, EOS, 10, beam_size=1, alpha=0.0),
                       greedy_decode(model, src, BOS, EOS, 10))  # fmt: skip


def test_a_tiny_model_overfits_a_batch_and_decodes_it():
    torch.manual_seed(0)
    model = build_model(replace(TINY, d_model=64, d_ff=128))
    src = torch.randint(3, 20, (8, 6))
    tgt = torch.cat(
        [torch.full((8, 1), BOS), src.flip(1), torch.full((8, 1), EOS)], dim=1
    )  # reverse
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        logits = model(src, tgt[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), tgt[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.02
    model.eval()
    assert torch.equal(greedy_decode(model, src, BOS, EOS, 7), tgt[:, 1:])
