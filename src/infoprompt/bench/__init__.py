"""`infoprompt bench`: side-by-side speed and memory against peft, each figure a ratio from the same run.

Modules: `worker` measures one configuration in a fresh process (step time, peak memory, FLOPs,
evaluation throughput); `floor` measures the machine's matrix-multiply throughput; `e2e` times a
few-shot run of our CLI against benchmarks/peft_trainer_sst2.py; `report` turns the figures into
ratios, acceptance checks and tables; `cli` wires them to the command line.
"""
