"""Decoding the scratch Transformer: greedy and beam search (beam 4), with and without the
key/value cache, on 64-token outputs. Reports the speedup and checks the outputs are equal.

The model has the stage's shape (params.yaml `seq2seq.model`), randomly initialised: decoding
cost does not depend on the weights, and an EOS id that never wins forces all 64 steps.

Usage: python -m benchmarks.decode
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import torch

from benchmarks.common import REPEATS, ROOT, machine, median, write_result
from transformer_mlops.config import load_params
from transformer_mlops.models.transformer import beam_search, build_model, greedy_decode

OUTPUT_TOKENS = 64
BATCH = 32
SOURCE_TOKENS = 40
VOCAB = 64
NEVER = -1  # an EOS id no position can produce: every output is OUTPUT_TOKENS long


def run() -> dict[str, Any]:
    torch.set_num_threads(machine()["cores"])
    cfg = load_params(ROOT / "params.yaml").seq2seq.model
    torch.manual_seed(0)
    model = build_model(replace(cfg, src_vocab_size=VOCAB, tgt_vocab_size=VOCAB, pad_id=0)).eval()
    src = torch.randint(4, VOCAB, (BATCH, SOURCE_TOKENS))
    decoders = {
        "greedy": lambda cache: greedy_decode(model, src, 1, NEVER, OUTPUT_TOKENS, use_cache=cache),
        "beam4": lambda cache: beam_search(
            model, src, 1, NEVER, OUTPUT_TOKENS, beam_size=4, use_cache=cache
        ),
    }
    result: dict[str, Any] = {"machine": machine(), "batch": BATCH, "output_tokens": OUTPUT_TOKENS}
    for name, decode in decoders.items():
        times: dict[bool, list[float]] = {True: [], False: []}
        outputs = {}
        for _ in range(REPEATS):
            for cache in (True, False):
                started = time.perf_counter()
                outputs[cache] = decode(cache)
                times[cache].append(time.perf_counter() - started)
        assert outputs[True].size(1) == OUTPUT_TOKENS
        cached, uncached = median(times[True]), median(times[False])
        result[name] = {
            "kv_cache_seconds": round(cached, 3),
            "no_cache_seconds": round(uncached, 3),
            "speedup": round(uncached / cached, 2),
            "equal_outputs": bool(torch.equal(outputs[True], outputs[False])),
            "tokens_per_second_with_cache": round(BATCH * OUTPUT_TOKENS / cached, 1),
        }
    result["kv_cache_speedup_greedy"] = result["greedy"]["speedup"]
    result["kv_cache_speedup_beam4"] = result["beam4"]["speedup"]
    result["kv_cache_equal_outputs"] = (
        result["greedy"]["equal_outputs"] and result["beam4"]["equal_outputs"]
    )
    return result


if __name__ == "__main__":
    outcome = run()
    write_result("decode", outcome)
    print({k: v for k, v in outcome.items() if k != "machine"})
