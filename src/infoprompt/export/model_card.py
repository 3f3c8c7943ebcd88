"""Uploading a run or export folder (its README.md model card included) to the Hugging Face Hub.

The card itself is written below the API, in `infoprompt.report.model_card` (every run directory has one);
its names stay importable from here.
"""

from __future__ import annotations

from pathlib import Path

from infoprompt.report.model_card import CARD, card_text, read_card_header, write_card  # noqa: F401  (public here too)


def push_to_hub(folder: str | Path, repo_id: str, *, token: str | None = None, private: bool = True,
                api=None, commit_message: str = "infoprompt export") -> str:
    """Upload a run or export folder (README.md included) to the Hub; `api`: a `huggingface_hub.HfApi`
    (tests pass one aimed at a mocked endpoint). Returns the commit URL."""
    from huggingface_hub import HfApi

    api = api or HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), commit_message=commit_message,
                             ignore_patterns=["resume/*", "*.tmp"])
    return str(getattr(info, "commit_url", info))
