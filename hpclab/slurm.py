"""The sbatch file that runs a multi-worker training script on a Slurm cluster.

Taught in notebooks/06_multi_worker.ipynb (section 6): one task per node, each building its
cluster with SlurmClusterResolver; a failed node makes Slurm requeue the job, which resumes
from its last checkpoint.
"""

from __future__ import annotations

import shlex

from hpclab import checks


def _no_newline(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string; got {value!r}")
    if not value or any(c in value for c in "\r\n\0"):
        raise ValueError(f"{name} must be one line of text (no line breaks: one would add a "
                         f"command to the script); got {value!r}")
    return value


def slurm_script(script: str, *, args=(), nodes: int = 2, gpus_per_node: int = 0,
                 port_base: int = 8888, time_limit: str = "00:30:00",
                 job_name: str = "hpclab-mwms") -> str:
    """The text of an sbatch file that runs ``script`` once per node; the script builds
    its cluster with SlurmClusterResolver (notebooks/06). Nothing is written to disk.
    Every word of the command is quoted for bash (shlex.quote)."""
    nodes = checks.integer("nodes", nodes, example=2)
    gpus_per_node = checks.integer("gpus_per_node", gpus_per_node, minimum=0, example=4)
    port_base = checks.integer("port_base", port_base, maximum=65535, example=8888)
    words = [_no_newline("script", str(script)),
             *(_no_newline("each of args", a) for a in checks.arguments("args", args))]
    job_name = shlex.quote(_no_newline("job_name", job_name))
    time_limit = shlex.quote(_no_newline("time_limit", time_limit))
    gres = [f"#SBATCH --gres=gpu:{gpus_per_node}"] if gpus_per_node else []
    return "\n".join([
        "#!/bin/bash",
        f"#SBATCH --job-name={job_name}",
        f"#SBATCH --nodes={nodes}",
        "#SBATCH --ntasks-per-node=1   # one worker per node; it drives all the node's GPUs",
        *gres,
        f"#SBATCH --time={time_limit}",
        "#SBATCH --requeue             # a node fails: Slurm requeues the job, which resumes",
        "#SBATCH --output=%x-%j.out    # from the last checkpoint",
        "set -euo pipefail",
        "# In every task, SlurmClusterResolver reads SLURM_PROCID, SLURM_STEP_NODELIST and",
        "# SLURM_STEP_TASKS_PER_NODE and lists the workers as node:port.",
        f"export HPCLAB_SLURM_PORT_BASE={port_base}",
        "# The checkpoint directory must be on a file system that all nodes share.",
        "srun " + shlex.join(["python", *words]),
        "",
    ])
