"""The paper's APET experiments as commands: A1 (positions), A2 (budget sweep), E (zero-shot transfer).

Every training run goes through the sweep machinery (`infoprompt.sweep`): one directory per run
under RUNS_DIR, skipped when its result.json exists, resumed when it crashed. Each command rewrites
its JSON + Markdown + PNG after every finished run, so an interrupted experiment leaves partial
results and a rerun of the same command completes them.
"""
