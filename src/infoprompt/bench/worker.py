"""Measure one configuration: per length, the median step time, peak memory and FLOPs; evaluation speed.

Run as `python -m infoprompt.bench.worker '<JSON list of Specs>'`; prints one JSON line per spec.
A full benchmark starts a fresh process per configuration, so memory and caches of one never leak
into another; `--quick` measures them all in one process, one after another (each model released
before the next is built), to save the start-up of ten processes. A configuration that
cannot be built reports {"name", "error"} instead of failing the whole benchmark.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import traceback
from dataclasses import asdict

import torch

from infoprompt.bench.floor import count_flops
from infoprompt.bench.memory import PeakMemory
from infoprompt.bench.subjects import Spec, build_subject, dev_examples, source_texts, text_rows
from infoprompt.training.steps import NonFiniteLoss


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def measure_steps(subject, spec: Spec, texts: list[str]) -> list[dict]:
    """For each length: first-step time, median of `spec.steps` steps after `spec.warmup`, memory, FLOPs."""
    device = torch.device(spec.device)
    out = []
    labels = [i % 2 for i in range(spec.batch_size)]
    for length in sorted(spec.lengths):
        n_text = length - subject.specials()
        if n_text < 1:
            raise ValueError(f"length {length} leaves no room for text")
        batch = subject.make_batch(text_rows(subject.tokenizer, texts, spec.batch_size, n_text), labels)
        first = _timed(lambda b=batch: subject.step(b), device)  # includes one-off work (caches, compilation)
        for _ in range(max(0, spec.warmup - 1)):
            subject.step(batch)
        flops = count_flops(lambda b=batch: subject.step(b))
        with PeakMemory(device) as memory:
            times = [_timed(lambda b=batch: subject.step(b), device) for _ in range(spec.steps)]
        out.append({
            "length": length, "tokens": int(batch["input_ids"].shape[1]), "step_ms": 1000 * statistics.median(times),
            "step_ms_all": [round(1000 * t, 3) for t in times], "first_step_ms": 1000 * first,
            "peak_mb": memory.peak_mb, "step_mb": memory.delta_mb, "memory_method": memory.method, "flops": flops,
        })
    return out


def measure_eval(subject, spec: Spec) -> dict:
    """Examples per second over the dev examples, after one pass that warms caches (steady state)."""
    device = torch.device(spec.device)
    examples = dev_examples(spec.data_dir, spec.eval_examples)
    prepared = subject.prepare_eval(examples)
    subject.evaluate(prepared)
    seconds = min(_timed(lambda: subject.evaluate(prepared), device) for _ in range(2))
    return {"examples": len(examples), "batch_size": spec.eval_batch_size, "seconds": seconds,
            "examples_per_s": len(examples) / seconds}


def measure(spec: Spec) -> dict:
    """Everything the report needs about one configuration (or {"name", "error"})."""
    result: dict = {"name": spec.label or spec.name, "spec": asdict(spec), "threads": torch.get_num_threads()}
    try:
        subject = build_subject(spec)
    except Exception as err:  # noqa: BLE001 - any build failure becomes a note in the report
        result["error"] = f"cannot build: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        return result
    result["trainable_params"] = subject.trainable_params
    try:
        result["steps"] = measure_steps(subject, spec, source_texts(spec.data_dir))
        if spec.eval_examples > 0:
            result["eval"] = measure_eval(subject, spec)
    except NonFiniteLoss as err:
        result["error"] = (f"loss term '{err.name}' became non-finite after {subject.steps_done} steps "
                           f"({spec.device}, {spec.precision})")
    except Exception as err:  # noqa: BLE001
        result["error"] = f"failed while measuring: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        result["traceback"] = traceback.format_exc(limit=3)
    finally:
        del subject
    return result


def measure_all(specs: list[Spec]):
    """Measure each spec in turn, releasing the previous one's model first; yields one result per spec."""
    import gc

    for spec in specs:
        yield measure(spec)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def main(argv: list[str] | None = None) -> int:
    """Argument: a JSON list of Spec dicts. Prints one JSON line per spec as soon as it is measured."""
    argv = sys.argv[1:] if argv is None else argv
    for result in measure_all([Spec(**d) for d in json.loads(argv[0])]):
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
