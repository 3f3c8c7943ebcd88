"""``infoprompt export``: a trained run in another project's format (argument parsing only)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

FORMATS = ("peft",)


def cmd_export(args: argparse.Namespace) -> int:
    import json

    from infoprompt.export.peft import META_FILE, export_peft

    out = export_peft(args.checkpoint, args.output)
    if args.push_to_hub:
        from infoprompt.export.model_card import push_to_hub

        print(f"pushed {out} to the Hub: {push_to_hub(out, args.push_to_hub)}", file=sys.stderr)
    meta = json.loads((out / META_FILE).read_text(encoding="utf-8"))
    if meta.get("mode") == "peft-exact":
        print(f"wrote a peft folder to {out} (load: {meta['load'].replace('DIR', repr(str(out)))})", file=sys.stderr)
        return 0
    base_class = meta["base_class"]
    print(f"wrote a peft adapter to {out} (load: PeftModel.from_pretrained({base_class}.from_pretrained(base), "
          f"'{out}'); head: docs/interop.md)", file=sys.stderr)
    return 0


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("export", help="export a trained run for another library (peft adapter folder)")
    p.add_argument("--checkpoint", required=True, help="run directory holding the best checkpoint")
    p.add_argument("--format", default="peft", choices=FORMATS,
                   help="peft: adapter_config.json + adapter_model.safetensors (lora, prompt, prefix runs)")
    p.add_argument("--output", required=True, help="folder to write (created if missing)")
    p.add_argument("--push-to-hub", metavar="REPO_ID", help="also upload the folder (README.md model card included) "
                                                            "to this Hub repository, private (huggingface_hub login)")
    p.set_defaults(func=cmd_export)
