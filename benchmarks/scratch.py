"""The from-scratch Transformer: training tokens/s in fp32 and bf16-mixed, FastDropout vs
torch's dropout, and model FLOP utilisation (MFU) against this machine's own measured matmul
peak. (CPU training with dropout takes the readable attention path with FastDropout: torch's
fused kernel measured 0.91x of it, see MultiHeadAttention.forward.)

Work: the stage's model (params.yaml `seq2seq.model`) on length-bucketed batches of the
stage's synthetic date data, the stage's loss and AdamW; FLOPs per step counted by
torch.utils.flop_counter over forward + backward. A profile names what the rest of the step is.

Usage: python -m benchmarks.scratch
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from benchmarks.common import REPEATS, ROOT, SCALE, machine, median, write_result
from transformer_mlops.config import SyntheticConfig, load_params
from transformer_mlops.data.synthetic import generate
from transformer_mlops.features.batching import LengthBucketBatchSampler
from transformer_mlops.features.seq2seq import collate, encode_pairs
from transformer_mlops.models.fast_dropout import use_fast_dropout
from transformer_mlops.models.tokenization import PAD_ID, train_tokenizer
from transformer_mlops.models.transformer import build_model
from transformer_mlops.tasks.hardware import cpu_has_fast_bf16
from transformer_mlops.tasks.optim import adamw_with_schedule
from transformer_mlops.tasks.seq2seq import Seq2SeqModule


def matmul_peak(dtype: torch.dtype, seconds: float = 1.0) -> float:
    """FLOP/s of a square matmul, the size grown until one product takes >= 0.1 s."""
    n = 256
    while True:
        a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
        started = time.perf_counter()
        a @ b
        took = time.perf_counter() - started
        if took >= 0.1 or n >= 4096:
            break
        n *= 2
    runs, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        runs += 1
    return 2 * n**3 * runs / (time.perf_counter() - started)


def batches(batch_size: int) -> tuple[list[dict], int]:
    cfg = load_params(ROOT / "params.yaml").seq2seq
    n = max(batch_size * 8, int(4000 * SCALE))
    records = generate("seq2seq", SyntheticConfig(train=n, validation=1, test=1), cfg.data.seed)[
        "train"
    ]
    tokenizer = train_tokenizer([r["source"] for r in records] + [r["target"] for r in records])
    pairs, _ = encode_pairs(tokenizer, records, 128, 128)
    sampler = LengthBucketBatchSampler([len(s) + len(t) for s, t in pairs], batch_size, seed=0)
    return [collate([pairs[i] for i in batch]) for batch in sampler], tokenizer.get_vocab_size()


def make_module(vocab: int, fast_dropout: bool = True) -> Seq2SeqModule:
    cfg = load_params(ROOT / "params.yaml").seq2seq
    model_cfg = replace(cfg.model, src_vocab_size=vocab, tgt_vocab_size=vocab, pad_id=PAD_ID)
    torch.manual_seed(0)
    model = build_model(model_cfg)
    if fast_dropout:
        use_fast_dropout(model)
    return Seq2SeqModule(model, cfg.train).train()


def train_steps(
    module: Seq2SeqModule, data: list[dict], precision: str, steps: int
) -> dict[str, float]:
    """Timed training steps (after 2 warm-up steps): target tokens/s and seconds per step."""
    optimizer = adamw_with_schedule(module.model, module.train_cfg.optimizer, 10**6)["optimizer"]
    smoothing = module.train_cfg.label_smoothing

    def step(batch):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16-mixed"):
            loss = module.model_step(batch, smoothing)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for batch in data[:2]:
        step(batch)
    timed = [data[(2 + i) % len(data)] for i in range(steps)]
    started = time.perf_counter()
    for batch in timed:
        step(batch)
    seconds = time.perf_counter() - started
    tokens = sum(int((b["tgt_out"] != PAD_ID).sum()) for b in timed)
    return {
        "tokens_per_second": tokens / seconds,
        "seconds_per_step": seconds / steps,
        "steps": steps,
    }


def flops_per_step(module: Seq2SeqModule, data: list[dict], steps: int) -> float:
    """Mean matmul/attention FLOPs of forward + backward over the timed batches."""
    total = 0
    timed = [data[(2 + i) % len(data)] for i in range(steps)]
    for batch in timed:
        counter = FlopCounterMode(display=False)
        with counter:
            module.model_step(batch, 0.0)["loss"].backward()
        module.zero_grad(set_to_none=True)
        total += counter.get_total_flops()
    return total / steps


def profile_top(module: Seq2SeqModule, data: list[dict]) -> list[dict[str, Any]]:
    """Where a training step's time goes: the top operators by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    optimizer = adamw_with_schedule(module.model, module.train_cfg.optimizer, 10**6)["optimizer"]
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in data[:5]:
            module.model_step(batch, 0.05)["loss"].backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "share": round(e.self_cpu_time_total / total, 3)} for e in events[:8]]


def run() -> dict[str, Any]:
    torch.set_num_threads(machine()["cores"])
    batch_size = load_params(ROOT / "params.yaml").seq2seq.train.batch_size
    data, vocab = batches(batch_size)
    steps = max(4, int(30 * SCALE))
    fast_bf16 = cpu_has_fast_bf16()
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}
    variants = {  # name: (precision, fast dropout)
        "fp32": ("32-true", True),
        "fp32_torch_dropout": ("32-true", False),
        "bf16_mixed": ("bf16-mixed", True),
    }
    results: dict[str, list[dict]] = {name: [] for name in variants}
    for _ in range(REPEATS):
        for name, (precision, fast) in variants.items():
            # emulated bf16 (no bf16 instructions) is ~100x slower: a few steps show it
            n = steps if precision != "bf16-mixed" or fast_bf16 else 3
            results[name].append(train_steps(make_module(vocab, fast), data, precision, n))
    rates = {name: median([r["tokens_per_second"] for r in runs]) for name, runs in results.items()}
    step_seconds = {
        name: median([r["seconds_per_step"] for r in runs]) for name, runs in results.items()
    }
    flops = flops_per_step(make_module(vocab), data, steps)
    chosen = "bf16_mixed" if fast_bf16 else "fp32"  # what precision "auto" picks here
    achieved = flops / step_seconds[chosen]
    return {
        "machine": machine(),
        "batch_size": batch_size,
        "parameters": sum(p.numel() for p in make_module(vocab).parameters()),
        "tokens_per_second": {k: round(v, 1) for k, v in rates.items()},
        "bf16_vs_fp32": round(rates["bf16_mixed"] / rates["fp32"], 3),
        "fast_vs_torch_dropout": round(rates["fp32"] / rates["fp32_torch_dropout"], 3),
        "flops_per_step": flops,
        "matmul_peak_gflops": {k: round(v / 1e9, 1) for k, v in peaks.items()},
        "precision_auto": chosen,
        "achieved_gflops": round(achieved / 1e9, 1),
        "scratch_mfu": round(achieved / peaks["bf16" if fast_bf16 else "fp32"], 3),
        "scratch_mfu_vs_bf16_peak": round(achieved / peaks["bf16"], 3),
        "profile_top_ops": profile_top(make_module(vocab), data),
    }


if __name__ == "__main__":
    outcome = run()
    write_result("scratch", outcome)
    print({k: v for k, v in outcome.items() if k != "machine"})
