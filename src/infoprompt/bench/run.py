"""Run a whole benchmark: the machine's floor, one worker process per configuration, the end-to-end pair."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from infoprompt.bench.e2e import EndToEnd, find_peft_script, run_end_to_end
from infoprompt.bench.floor import matmul_flops_per_second
from infoprompt.bench.subjects import PEFT_SUBJECTS, Spec
from infoprompt.errors import ConfigError


@dataclass
class Settings:
    """What one `infoprompt bench` run measures; `quick()` is the ~2-minute reduction."""

    backbone: str = "minilm"
    data_dir: str | None = None
    device: str = "cpu"
    precision: str = "fp32"
    methods: list[str] = field(default_factory=list)  # empty: every registered method
    lengths: list[int] = field(default_factory=lambda: [64, 128])
    batch_size: int = 8
    warmup: int = 3
    steps: int = 7
    eval_methods: list[str] = field(default_factory=lambda: ["prompt", "infoprompt", "peft-prompt"])
    eval_examples: int = 872
    eval_batch_size: int = 64
    e2e_methods: list[str] = field(default_factory=lambda: ["prompt", "infoprompt"])
    e2e_peft: list[str] = field(default_factory=lambda: ["prompt"])  # peft + Trainer runs: prompt, lora
    shots: int = 256
    epochs: int = 10
    dev_limit: int | None = None
    compile_check: bool = False
    in_process: bool = False  # debugging and tests: no worker processes (memory figures then overlap)
    timeout: int = 1800
    peft_script: str | None = None
    quick: bool = False

    def make_quick(self) -> Settings:
        """Fewer steps, a smaller dev set and a short end-to-end pair: about two minutes on a GPU machine."""
        self.quick, self.warmup, self.steps = True, 2, 5
        self.eval_examples, self.dev_limit = 256, 256
        self.e2e_methods, self.shots, self.epochs = ["prompt"], 64, 2
        return self


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def run_workers(specs: list[Spec], *, one_process: bool = False, in_process: bool = False, timeout: int = 1800,
                on_result: Callable[[dict], None] = lambda r: None) -> list[dict]:
    """Measure `specs`: each in a fresh Python process (default), all in one process, or here (tests).

    Results stream back as each configuration finishes (`on_result`), so a run cut short keeps what
    it measured; a configuration whose process dies is reported with the process's last error line.
    """
    if in_process:
        from infoprompt.bench.worker import measure_all

        results = []
        for result in measure_all(specs):
            on_result(result)
            results.append(result)
        return results
    groups = [specs] if one_process else [[spec] for spec in specs]
    results = []
    for group in groups:
        for result in _stream_worker(group, timeout):
            on_result(result)
            results.append(result)
    return results


def _stream_worker(specs: list[Spec], timeout: int):
    cmd = [sys.executable, "-m", "infoprompt.bench.worker", json.dumps([asdict(spec) for spec in specs])]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryFile("w+") as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True, env=env)
        timer = threading.Timer(timeout * len(specs), proc.kill)
        timer.start()
        done = 0
        try:
            for line in proc.stdout:
                if line.startswith("{"):
                    done += 1
                    yield json.loads(line)
            proc.wait()
        finally:
            timer.cancel()
        if done < len(specs):
            errors.seek(0)
            tail = ([line for line in errors.read().splitlines() if line.strip()] or ["no output"])[-1]
            why = f"worker exited {proc.returncode}: {tail}" if proc.returncode != -9 else f"timed out after {timeout}s"
            for spec in specs[done:]:
                yield {"name": spec.label or spec.name, "error": why}


def _specs(s: Settings) -> list[Spec]:
    from infoprompt.methods import list_methods

    known = list_methods()
    methods = s.methods or known
    unknown = [m for m in methods if m not in known and m not in PEFT_SUBJECTS]
    if unknown:
        raise ConfigError(f"--methods: unknown method(s) {unknown} (choose from: {', '.join(known)})")
    names = [m for m in methods if m not in PEFT_SUBJECTS] + list(PEFT_SUBJECTS)
    common = dict(backbone=s.backbone, data_dir=s.data_dir, lengths=s.lengths, batch_size=s.batch_size,
                  warmup=s.warmup, steps=s.steps, device=s.device, precision=s.precision,
                  eval_batch_size=s.eval_batch_size)
    specs = [Spec(name=n, eval_examples=s.eval_examples if n in s.eval_methods else 0, **common) for n in names]
    if s.compile_check:
        specs.append(Spec(name="prompt", label="prompt+compile", compile=True, **common))
    return specs


def _load_average() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def compile_note(configs: list[dict]) -> str | None:
    """Whether torch.compile pays for `prompt`: its one-off cost against the per-step saving."""
    by = {c["name"]: c for c in configs if "error" not in c}
    if "prompt" not in by or "prompt+compile" not in by:
        return None
    parts = []
    for eager, compiled in zip(by["prompt"]["steps"], by["prompt+compile"]["steps"]):
        cost = (compiled["first_step_ms"] - eager["first_step_ms"]) / 1000
        saving = (eager["step_ms"] - compiled["step_ms"]) / 1000
        verdict = f"pays after {cost / saving:,.0f} steps" if saving > 0 else "never pays (not faster per step)"
        parts.append(f"L={eager['length']}: compile costs {cost:.1f} s once, step {compiled['step_ms']:.1f} ms vs "
                     f"{eager['step_ms']:.1f} ms eager, {verdict}")
    return "torch.compile (prompt): " + "; ".join(parts)


def run_bench(s: Settings, log: Callable[[str], None] = print, on_config: Callable[[dict], None] = lambda r: None) -> dict:
    """Measure everything `s` asks for; return the raw report (see report.summarise for the ratios).

    `on_config` receives each configuration's figures as soon as they are measured."""
    if s.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no GPU is visible to torch here")
    peft_script = find_peft_script(s.peft_script) if s.e2e_methods else None
    if s.e2e_methods and not s.data_dir:
        raise ConfigError("the end-to-end run needs SST-2: give --data-dir (or $INFOPROMPT_DATA), or --no-e2e")
    load_start = _load_average()
    log(f"matrix-multiply throughput on {s.device} ({s.precision}) ...")
    rate = matmul_flops_per_second(s.device, s.precision)
    specs = _specs(s)
    log(f"step benchmark: {len(specs)} configurations ({', '.join(x.label or x.name for x in specs)}) ...")

    def progress(result: dict) -> None:
        if "error" in result:
            log(f"  {result['name']}: skipped: {result['error']}")
        else:
            steps = ", ".join(f"L={r['length']} {r['step_ms']:.1f} ms" for r in result["steps"])
            log(f"  {result['name']}: {steps}")
        on_config(result)

    configs = run_workers(specs, one_process=s.quick, in_process=s.in_process, timeout=s.timeout, on_result=progress)
    e2e: list[dict] = []
    e2e_cfg = EndToEnd(backbone=s.backbone, data_dir=s.data_dir or "", shots=s.shots, epochs=s.epochs,
                       batch_size=s.batch_size, device=s.device, precision=s.precision, dev_limit=s.dev_limit,
                       timeout=s.timeout)
    if s.e2e_methods:
        e2e = run_end_to_end(e2e_cfg, s.e2e_methods, peft_script, log, tuple(s.e2e_peft))
    memory = next((step["memory_method"] for c in configs for step in c.get("steps", [])), "")
    notes = [n for n in [compile_note(configs)] if n]
    load = (load_start, _load_average())
    if s.device == "cpu" and max(load) > 0.75 * (os.cpu_count() or 1) + 1:  # +1: the benchmark itself
        notes.append(f"the machine was busy (1-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the "
                     f"end, {os.cpu_count()} CPUs): CPU timings are unreliable; rerun when it is quiet")
    if any(c["name"] in ("idpg", "infoprompt") for c in configs):
        notes.append("idpg/infoprompt steps hit the prompt-free cache, as every epoch after the first does")
    return {
        "device": s.device, "device_name": device_name(s.device), "precision": s.precision, "quick": s.quick,
        "torch": torch.__version__, "threads": torch.get_num_threads(), "backbone": s.backbone,
        "batch_size": s.batch_size, "steps": s.steps, "warmup": s.warmup, "matmul_flops_per_s": rate,
        "memory_method": memory, "load_average": load, "configs": configs, "e2e": e2e,
        "e2e_settings": {k: v for k, v in asdict(e2e_cfg).items() if k in ("shots", "epochs", "batch_size", "lr")},
        "notes": notes,
    }
