"""Templates (text -> ids with a mask and prompt slots) and verbalizers (label -> words)."""

from infoprompt.prompting.template import Feature, Template, collate
from infoprompt.prompting.verbalizer import verbalizer_embeddings

__all__ = ["Feature", "Template", "collate", "verbalizer_embeddings"]
