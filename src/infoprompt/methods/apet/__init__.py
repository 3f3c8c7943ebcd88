"""APET (Su et al. 2023): tunable weights of any size at any position, with an exact parameter budget.

- `sites`: where each operation (ADD as `add`/`param`, PLUG, low-rank ADD, CONCAT, prompt) can act.
- `budget`: the allocation rule that meets a budget exactly (last unit partial; seeded random order).
- `insert`: applies the units with the primitives of `infoprompt.delta`.
- `presets`: Prompt, BitFit, LoRA and Adapter as APET configurations.
- `method`: the registered `apet` method (`infoprompt train --method apet --budget N`).
The paper's A1 (positions), A2 (budget sweep) and E (transfer) experiments are commands, above the API:
`infoprompt.experiments.apet` (`infoprompt apet ...`).
"""

from infoprompt.methods.apet.budget import Unit, allocate
from infoprompt.methods.apet.method import APET, APETConfig
from infoprompt.methods.apet.sites import OPS, Site, Sizes, candidate_sites, select_sites

__all__ = ["APET", "APETConfig", "OPS", "Site", "Sizes", "Unit", "allocate", "candidate_sites", "select_sites"]
