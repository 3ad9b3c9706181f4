"""Test-set evaluation of the scratch model: exact match, token accuracy, BLEU/chrF, loss,
per-format exact match, the worst errors, and cross-attention heatmaps."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import sacrebleu
import torch
import torch.nn.functional as F

from transformer_mlops.config import ScratchInference, Seq2SeqEvalConfig
from transformer_mlops.data.schema import LONGEST
from transformer_mlops.evaluation.scores import percent, write_reports
from transformer_mlops.features.seq2seq import collate, encode_pairs
from transformer_mlops.inference.scratch import checked, decode
from transformer_mlops.io import atomic_dir, read_jsonl, save_figure, write_json
from transformer_mlops.models.tokenization import BOS_ID, EOS_ID, PAD_ID, decode_ids
from transformer_mlops.models.transformer import Transformer


def _r(value: float) -> float:
    return round(float(value), 6)


@torch.inference_mode()
def decode_and_score(model: Transformer, tokenizer, records: list[dict], cfg: Seq2SeqEvalConfig,
                     max_src: int = 128, max_tgt: int = 128) -> list[dict]:  # fmt: skip
    """Per example: prediction (decoded with the settings `cfg` holds), gold loss (no
    smoothing), correct and total target tokens."""
    settings = ScratchInference.of(cfg)
    pairs, _ = encode_pairs(tokenizer, records, max_src, max_tgt)
    order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]))  # similar lengths together
    results: list[dict] = [{} for _ in pairs]
    for start in range(0, len(order), cfg.batch_size):
        idx = order[start : start + cfg.batch_size]
        batch = collate([pairs[i] for i in idx])
        logits = model(batch["src"], batch["tgt_in"]).float()
        labels = batch["tgt_out"]
        losses = F.cross_entropy(
            logits.transpose(1, 2), labels, ignore_index=PAD_ID, reduction="none"
        )
        real = labels != PAD_ID
        correct = ((logits.argmax(-1) == labels) & real).sum(1)
        hyp = decode(model, batch["src"], settings)
        for row, i in enumerate(idx):
            decoded = decode_ids(tokenizer, hyp[row].tolist())
            results[i] = {
                "prediction": checked(decoded, settings),
                "decoded": decoded,
                "loss": float(losses[row].sum() / real[row].sum()),
                "correct_tokens": int(correct[row]),
                "tokens": int(real[row].sum()),
            }
    return results


def _scores(records: list[dict], scored: list[dict], suffix: str = "") -> dict[str, Any]:
    """Exact match, BLEU, chrF, gold loss and count of some test examples, `test/<name><suffix>`."""
    hits = [s["prediction"] == r["target"] for r, s in zip(records, scored, strict=True)]
    tokens = sum(s["tokens"] for s in scored)
    predictions = [s["prediction"] for s in scored]
    references = [[r["target"] for r in records]]
    return {
        f"test/exact_match{suffix}": percent(sum(hits) / len(hits)),
        f"test/bleu{suffix}": round(sacrebleu.corpus_bleu(predictions, references).score, 2),
        f"test/chrf{suffix}": round(sacrebleu.corpus_chrf(predictions, references).score, 2),
        f"test/loss{suffix}": round(sum(s["loss"] * s["tokens"] for s in scored) / tokens, 4),
        f"test/examples{suffix}": len(records),
    }


def metrics_from(records: list[dict], scored: list[dict]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(headline, detail) with `test/` keys, scores in percent (stable rounding: the files are
    byte-reproducible); the detail is token accuracy and exact match per date format. Pairs held
    out for their length (`data.carve.longest`) are scored apart as `test/*_longest`: the plain
    keys are then the random held-out pairs only."""
    hits = [s["prediction"] == r["target"] for r, s in zip(records, scored, strict=True)]
    tokens = sum(s["tokens"] for s in scored)
    longest = [r.get("format") == LONGEST for r in records]
    if any(longest) and not all(longest):

        def part(flag: bool) -> tuple[list[dict], list[dict]]:
            chosen = [i for i, is_long in enumerate(longest) if is_long == flag]
            return [records[i] for i in chosen], [scored[i] for i in chosen]

        headline = _scores(*part(False)) | _scores(*part(True), suffix="_longest")
    else:
        headline = _scores(records, scored)
    by_format: dict[str, list[bool]] = defaultdict(list)
    for record, hit in zip(records, hits, strict=True):
        if "format" in record:
            by_format[record["format"]].append(hit)
    detail: dict[str, Any] = {
        "test/token_acc": percent(sum(s["correct_tokens"] for s in scored) / tokens)
    }
    declined = sum(s["prediction"] != s.get("decoded", s["prediction"]) for s in scored)
    if declined:  # the model's outputs naming no real day, answered `no date` by the settings
        detail["test/declined_impossible_outputs"] = declined
    if by_format:
        detail["test/exact_match_by_format"] = {
            k: {"exact_match": percent(sum(v) / len(v)), "examples": len(v)}
            for k, v in sorted(by_format.items())
        }
    return headline, detail


def worst_errors(records: list[dict], scored: list[dict], limit: int) -> list[dict]:
    """Wrong predictions, highest gold loss first: what the model finds hardest."""
    wrong = [
        {
            "id": r["id"],
            "source": r["source"],
            "target": r["target"],
            "prediction": s["prediction"],
            "loss": _r(s["loss"]),
        }
        for r, s in zip(records, scored, strict=True)
        if s["prediction"] != r["target"]
    ]
    return sorted(wrong, key=lambda e: (-e["loss"], e["id"]))[:limit]


@torch.inference_mode()
def plot_cross_attention(model: Transformer, tokenizer, source: str, path: str | Path,
                         settings: ScratchInference = ScratchInference()) -> None:  # fmt: skip
    """Heatmap of the last decoder layer's cross-attention (mean over heads) for one input,
    over the output that `settings` decode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    src_ids = [*tokenizer.encode(source).ids, EOS_ID]
    src = torch.tensor([src_ids])
    hyp = decode(model, src, settings)[0].tolist()
    hyp = hyp[: hyp.index(EOS_ID) + 1] if EOS_ID in hyp else hyp
    memory, src_mask = model.encode(src)
    model.decode(torch.tensor([[BOS_ID, *hyp[:-1]]]), memory, src_mask, need_weights=True)
    layers = model.cross_attention_weights()
    heads = layers[-1][0]  # (heads, T, S) of the last decoder layer
    weights = heads.mean(0).float().numpy()  # (T, S)
    src_labels = [tokenizer.id_to_token(i) for i in src_ids]
    tgt_labels = [tokenizer.id_to_token(i) for i in hyp]
    fig, ax = plt.subplots(
        figsize=(max(6, len(src_labels) * 0.4 + 2), max(4, len(tgt_labels) * 0.35 + 1.5))
    )
    image = ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label="attention weight")
    ax.set_xticks(range(len(src_labels)), [s.replace(" ", "␣") for s in src_labels], fontsize=8,
                  rotation=90)  # fmt: skip
    ax.set_yticks(range(len(tgt_labels)), tgt_labels, fontsize=8)
    ax.set_xlabel("source tokens")
    ax.set_ylabel("predicted tokens")
    ax.set_title(f"cross-attention, decoder layer {len(layers)} of {len(layers)}, mean of "
                 f"{heads.shape[0]} heads\n{source!r} -> {decode_ids(tokenizer, hyp)!r}",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def evaluate(model: Transformer, tokenizer, prepared_dir: str | Path, cfg: Seq2SeqEvalConfig,
             metrics_path: str | Path, details_path: str | Path, errors_path: str | Path,
             plots_dir: str | Path) -> dict:  # fmt: skip
    """The `evaluate_scratch` stage's work: metrics, their detail, errors and attention plots on
    test; returns headline and detail together."""
    records = read_jsonl(Path(prepared_dir) / "test.jsonl")
    scored = decode_and_score(model, tokenizer, records, cfg)
    metrics = write_reports(*metrics_from(records, scored), metrics_path, details_path)
    write_json(errors_path, worst_errors(records, scored, cfg.worst_errors))
    # the folder is replaced whole: fewer plots than last time leave no stale ones behind
    with atomic_dir(plots_dir) as folder:
        for i, record in enumerate(records[: cfg.attention_plots]):
            plot_cross_attention(model, tokenizer, record["source"], folder / f"attention_{i}.png",
                                 ScratchInference.of(cfg))  # fmt: skip
    return metrics
