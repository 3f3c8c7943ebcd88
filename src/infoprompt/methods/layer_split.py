"""Prompts that enter at layer K (`--prompt-layer K`): the frozen stack in two pieces, the lower one cached.

Layers 1..K-1 run on the plain input (the template's prompt-free sequence, mask kept) without gradient;
the prompt vectors are inserted into the states entering layer K, right after the first token, and
layers K..N run on the longer sequence (`Family.lower_states` / `Family.upper_read`). Above the
embeddings an encoder layer has no notion of position, so where the prompts sit among the states is
arithmetic only: LPT prepends them before the first token (xyltt/LPT, encoder-only/models), we put them
after it so that the `cls` readout and `Reading.first` stay the first token's state. The layout
(`warp`/`prefix`) therefore only matters without `--prompt-layer`.

With backbone dropout off the lower states depend on the input alone, so `LowerStackCache` keeps them
per example (content-addressed by the prompt-free token ids, like IDPG's Φ(X) cache) and an epoch after
the first runs only layers K..N, forward and backward; dev and test reuse it too. The cache has a
memory budget (`--late-cache-mb`); rows past it are recomputed at every use and counted in the run
report. `--late-cache-dtype bf16|fp16` halves the store: the states are rounded once (bf16 keeps 8
bits of mantissa, fp16 11) and cast back to the model's dtype for the upper pass, so the upper layers
see inputs off by a relative 2^-9 (bf16) or 2^-12 (fp16), the same every epoch; fp32 is exact.
With `--backbone-dropout on` the lower stack runs (dropout on, no gradient) at every step.
"""

from __future__ import annotations

import torch

from infoprompt.errors import ConfigError
from infoprompt.families import Reading
from infoprompt.schema import setting

CACHE_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
SLAB_BYTES = 4 * 2**20  # the cache's rows live in slabs of this size (see LowerStackCache.put)


def prompt_layer_field(default: int | None = None):
    return setting(default, "the layer (1-indexed) the prompt enters at; layers below it run once per example on "
                            "the plain input, cached, without gradient (idpg, infoprompt: none = the input "
                            "embeddings; late: none = the middle layer, N//2 + 1)", min=1)


def cache_mb_field():
    return setting(1024.0, "memory budget (MiB) of the cache of states entering --prompt-layer; rows past it are "
                           "recomputed at every use", min=0)


def cache_dtype_field():
    return setting("fp32", "storage precision of that cache: fp32 (exact), bf16 or fp16 (half the memory; the "
                           "states are rounded once)", choices=tuple(CACHE_DTYPES), one_of=True)


class LowerStackCache:
    """States entering layer K, one (L_i, D) tensor per distinct prompt-free input, within a byte budget."""

    def __init__(self, budget_mb: float, dtype: str = "fp32") -> None:
        self.budget = int(budget_mb * 2**20)
        self.dtype = CACHE_DTYPES[dtype]
        self.itemsize = torch.empty((), dtype=self.dtype).element_size()
        self._store: dict[bytes, torch.Tensor] = {}
        self.nbytes = 0
        self.hits = self.misses = self.recomputed = 0  # rows served, computed, computed again past the budget
        self._refused: set[bytes] = set()  # distinct inputs that did not fit
        self._slabs: list[torch.Tensor] = []
        self._used = 0  # elements used in the last slab

    def __len__(self) -> int:
        return len(self._store)

    def get(self, key: bytes) -> torch.Tensor | None:
        value = self._store.get(key)
        if value is not None:
            self.hits += 1
        elif key in self._refused:
            self.recomputed += 1
        else:
            self.misses += 1
        return value

    def put(self, key: bytes, value: torch.Tensor) -> bool:
        """Keep `value` (stored in the cache dtype, on its device) if it fits the budget; False if it does not.

        Rows are copied into large slabs (SLAB_BYTES each) rather than kept as one small tensor each, so that
        hundreds of long-lived rows do not pin the allocator's small-block heap between training steps."""
        numel = value.numel()
        size = numel * self.itemsize
        if self.nbytes + size > self.budget:
            self._refused.add(key)
            return False
        if not self._slabs or self._used + numel > self._slabs[-1].numel() or self._slabs[-1].device != value.device:
            per_slab = max(numel, min(SLAB_BYTES, self.budget - self.nbytes) // self.itemsize)  # within the budget
            self._slabs.append(torch.empty(per_slab, dtype=self.dtype, device=value.device))
            self._used = 0
        row = self._slabs[-1][self._used:self._used + numel].view(value.shape)
        row.copy_(value.detach())
        self._used += numel
        self._store[key] = row
        self.nbytes += size
        return True

    def clear(self) -> None:
        self._store.clear()
        self._refused.clear()
        self._slabs, self._used = [], 0
        self.nbytes = 0

    def to_tensors(self) -> dict[str, torch.Tensor]:
        return {key.hex(): value.clone().cpu() for key, value in self._store.items()}

    def load_tensors(self, tensors: dict[str, torch.Tensor], device: torch.device | None = None) -> None:
        self.clear()
        for name, value in tensors.items():
            self.put(bytes.fromhex(name), value if device is None else value.to(device))

    def report(self) -> dict:
        return {"rows": len(self._store), "mib": round(self.nbytes / 2**20, 2), "budget_mib": round(self.budget / 2**20, 2),
                "dtype": str(self.dtype).removeprefix("torch."), "hits": self.hits, "misses": self.misses,
                "rows_past_budget": len(self._refused), "recomputed_past_budget": self.recomputed}


class LayerSplit:
    """One method's frozen backbone run as layers 1..K-1 (cached) and K..N (with prompts inserted)."""

    def __init__(self, method, k: int, cache_mb: float, cache_dtype: str) -> None:
        family, model = method.family, method.backbone
        n = family.num_layers(model)  # raises the family's one-line refusal where the stack cannot be split
        if not 1 <= k <= n:
            raise ConfigError(f"--prompt-layer must be in 1..{n} for '{method.backbone_info.name}' ({n} layers), got {k}")
        self.method, self.k, self.n_layers = method, k, n
        # The backbone's dropout policy (chosen at load time) decides: off -> the lower states are a function of
        # the input alone and are cached; on -> they are recomputed (with dropout) at every step.
        self.cache = LowerStackCache(cache_mb, cache_dtype) if not method._backbone_training else None

    def _free_batch(self, batch: dict, rows: list[int] | None = None) -> tuple[dict, torch.Tensor]:
        """The prompt-free layout of `batch` (optionally of some rows, cut to their longest length) and its ids."""
        sel = slice(None) if rows is None else torch.tensor(rows, dtype=torch.long, device=batch["free_ids"].device)
        attention = batch["free_attention_mask"][sel]
        width = int(attention.sum(1).max())
        sub = {"attention_mask": attention[:, :width], "mask_pos": batch["free_mask_pos"][sel],
               "token_type_ids": batch["free_token_type_ids"][sel, :width]}
        return sub, batch["free_ids"][sel, :width]

    def _compute(self, batch: dict, rows: list[int]) -> torch.Tensor:
        """(len(rows), L, D) states entering layer K of `rows`, without gradient (dropout as the backbone's mode)."""
        sub, ids = self._free_batch(batch, rows)
        method = self.method
        with torch.no_grad():
            return method.family.lower_states(method.backbone, method.word_embeddings(ids), sub, self.k)

    def lower(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L, D) states entering layer K of the prompt-free inputs (padded) and their (B, L) attention mask."""
        free, _ = self._free_batch(batch)
        attention = free["attention_mask"]
        if self.cache is None:
            return self._compute(batch, list(range(attention.shape[0]))), attention
        lengths = attention.sum(1).tolist()
        found = [self.cache.get(key) for key in batch["cache_keys"]]
        missing = [i for i, value in enumerate(found) if value is None]
        if missing:
            fresh = self._compute(batch, missing)
            for j, row in enumerate(missing):
                value = fresh[j, : lengths[row]]
                self.cache.put(batch["cache_keys"][row], value)
                found[row] = value
        dtype = next(self.method.backbone.parameters()).dtype
        rows = [value.to(device=attention.device, dtype=dtype) for value in found]
        return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True), attention

    def read_states(self, lower: torch.Tensor, attention: torch.Tensor, batch: dict,
                    prompts: torch.Tensor | None) -> Reading:
        """Z from layers K..N on `lower` with `prompts` (B, np, D) inserted after the first token (None: no prompt)."""
        method = self.method
        mask_pos = batch["free_mask_pos"]
        if prompts is None:
            layout = {"attention_mask": attention, "mask_pos": mask_pos}
            hidden = lower
        else:
            size, n = attention.shape[0], prompts.shape[1]
            hidden = torch.cat([lower[:, :1], prompts.to(lower.dtype), lower[:, 1:]], 1)
            mask = torch.cat([attention[:, :1], attention.new_ones(size, n), attention[:, 1:]], 1)
            index = torch.full_like(mask, -1)
            index[:, 1:1 + n] = torch.arange(n, device=mask.device)
            layout = {"attention_mask": mask, "mask_pos": mask_pos + n * (mask_pos >= 1).long(), "prompt_index": index}
        layout["token_type_ids"] = torch.zeros_like(layout["attention_mask"])  # unused: the embeddings are bypassed
        packer = method.packer if prompts is not None else None  # Φ(X) runs on sorted eval-like batches: padded
        return method.family.upper_read(method.backbone, hidden, layout, self.k, method.readout, packer=packer)

    def read(self, batch: dict, prompts: torch.Tensor | None) -> Reading:
        lower, attention = self.lower(batch)
        return self.read_states(lower, attention, batch, prompts)

    # -- run state (resume) and report ------------------------------------------------------------
    def export_run_state(self, prefix: str = "lower_cache.") -> dict[str, torch.Tensor]:
        return {} if self.cache is None else {prefix + k: v for k, v in self.cache.to_tensors().items()}

    def import_run_state(self, tensors: dict[str, torch.Tensor], prefix: str = "lower_cache.") -> None:
        if self.cache is not None:
            device = next(self.method.backbone.parameters()).device
            self.cache.load_tensors({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}, device)

    def clear(self) -> None:
        if self.cache is not None:
            self.cache.clear()

    def report(self) -> dict:
        facts = {"prompt_layer": self.k, "layers": self.n_layers}
        facts["lower_cache"] = self.cache.report() if self.cache is not None else "off (backbone dropout on: recomputed)"
        return facts


class PromptLayerMixin:
    """For a PromptMethod: with a LayerSplit in `split`, its prompted pass (`read`) and its prompt-free pass Φ(X)
    (`read_prompt_free`) run layers K..N on the cached lower stack; without one (`split` None) nothing changes.

    This is also the seam for losses on P, Z and Z' (any method): `prompts(batch)` gives P (B, np, D),
    `read(batch, P).z` gives Z, `read_prompt_free(batch, rows).z` gives Z' (from the same cached stack)."""

    split: LayerSplit | None = None

    def setup_prompt_layer(self, k: int | None) -> None:
        """Split the stack at layer `k` (None: prompts stay in the input embeddings, today's behaviour)."""
        if k is None:
            return
        cfg = self.config
        self.split = LayerSplit(self, k, cfg.late_cache_mb, cfg.late_cache_dtype)

    def read(self, batch: dict, prompts: torch.Tensor) -> Reading:
        if self.split is None:
            return super().read(batch, prompts)
        return self.split.read(batch, prompts)

    def read_prompt_free(self, batch: dict, rows: list[int]) -> Reading:
        if self.split is None:
            return super().read_prompt_free(batch, rows)
        keys = [batch["cache_keys"][i] for i in rows]
        sel = torch.tensor(rows, dtype=torch.long, device=batch["free_ids"].device)
        sub = {name: batch[name][sel] for name in ("free_ids", "free_attention_mask", "free_token_type_ids",
                                                    "free_mask_pos")}
        was_training = self.backbone.training
        self.backbone.eval()
        try:
            with torch.no_grad():
                return self.split.read({**sub, "cache_keys": keys}, None)
        finally:
            self.backbone.train(was_training)

    def export_run_state(self) -> dict[str, torch.Tensor]:
        return self.split.export_run_state() if self.split is not None else super().export_run_state()

    def import_run_state(self, tensors: dict[str, torch.Tensor]) -> None:
        if self.split is not None:
            self.split.import_run_state(tensors)
        super().import_run_state(tensors)

    def clear_run_state(self) -> None:
        if self.split is not None:
            self.split.clear()
        super().clear_run_state()

    def run_report(self) -> dict:
        return {**super().run_report(), **({"late": self.split.report()} if self.split is not None else {})}
