"""`--backend ray`: one Ray task per run, on a cluster (`--ray-address`) or a local Ray instance.

Each task does exactly what a local slot does (`execute_run` in the task's process, or one worker
process per run on the node), so locks, resume and result files behave the same. Ray's own task
retries are off (`max_retries=0`): a crashed run is restarted by the sweep's own logic, with
`--resume`, not blindly by Ray. The runs directory (and relative paths in the sweep file) must be
visible at the same path on every node.
"""

from __future__ import annotations

from pathlib import Path

from infoprompt.errors import ConfigError
from infoprompt.sweep import ray_cleanup
from infoprompt.sweep.runners import FAILED, Outcome, RunFn, execute_run, run_in_subprocess


def _ray_task(run_dir: str, wait: bool, run_fn: RunFn | str | None, cwd: str) -> Outcome:
    if callable(run_fn):
        return execute_run(run_dir, run_fn, wait=wait)
    return run_in_subprocess(run_dir, wait, runner=run_fn, cwd=cwd, threads=1)


class RayBackend:
    def __init__(self, run_fn: RunFn | str | None, *, address: str | None, cwd: str, cpus_per_run: float = 1.0):
        try:
            import ray
        except ImportError:
            raise ConfigError("--backend ray needs Ray: pip install 'infoprompt[ray]'") from None
        self.ray = ray
        self.owns = not ray.is_initialized()
        self.local = self.owns and address is None  # our own instance: its processes are ours to stop
        if self.local:
            ray_cleanup.reap_stale()  # what a killed earlier sweep left running (with a message)
        if self.owns:
            # address None starts a local instance; "auto" or "ray://host:port" joins a cluster.
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        self.processes = ray_cleanup.descendants() if self.local else []
        if self.local:
            ray_cleanup.record(self.processes)
        self.task = ray.remote(num_cpus=cpus_per_run, max_retries=0)(_ray_task)
        self.run_fn, self.cwd = run_fn, cwd

    def submit(self, run_dir: Path, wait: bool):
        return self.task.remote(str(run_dir), wait, self.run_fn, self.cwd)

    def wait_any(self, handles: list) -> list[tuple[object, Outcome]]:
        ready, _ = self.ray.wait(handles, num_returns=1)
        out = []
        for ref in ready:
            try:
                out.append((ref, self.ray.get(ref)))
            except Exception as err:  # the task's process died (OOM, node lost): the run reads as crashed
                out.append((ref, Outcome("?", FAILED, message=f"Ray task failed: {type(err).__name__}")))
        return out

    def close(self) -> None:
        if self.local:  # agents and workers started since init are ours too
            seen = {p["pid"] for p in self.processes}
            self.processes += [p for p in ray_cleanup.descendants() if p["pid"] not in seen]
        if self.owns:
            self.ray.shutdown()
        if self.local:
            ray_cleanup.close(self.processes)
