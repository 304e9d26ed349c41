"""hpclab: helpers for a Jupyter-first course on high-performance deep learning.

Importing hpclab does not import TensorFlow: device configuration
(``hpclab.devices.configure``) must come before the TF runtime starts.
Modules, one concern each:
  devices   inventory, the kernel path, the setup-cell call configure()  (notebooks 00, 01)
  records   TFRecord shards and simulated storage                  (02)
  profile   a profiler trace read with xprof                       (02)
  hlo       XLA HLO text: kernels and fusions                      (03)
  strategy  resolve(): TPU, GPUs, logical CPUs or default          (04, 07)
  train     training under a strategy, reused by later lessons     (04, 05)
  cluster   launch local multi-worker jobs (06); with worker (the workers' entry point),
            netns (a private network), addresses (TF_CONFIG, ports), slurm (sbatch scripts),
            _procs and _logs (process groups, temporary folders, worker logs)
  pipeline  timelines and the GPipe schedule                       (08)
  prune     magnitude pruning for Keras 3                          (09)
  quantize  TFLite conversion and evaluation with ai_edge_litert   (10)
  distill   knowledge distillation                                 (12)
  checks    one way to check arguments (TypeError / ValueError naming the fix)
  data, models, bench: offline digits, small models, timing
  results, report: a lesson's measured numbers per machine; one HTML page for a class
  classroom: graded exercises with nbgrader (make student)
  doctor, execute, cli: the `hpclab` command (doctor, execute, report, student)
"""

import functools

__version__ = "0.1.0"


def lazy_classes(module: str, **builders):
    """A module ``__getattr__`` (PEP 562) that builds each named class once, on first access:
    ``prune`` and ``distill`` subclass Keras classes, and Keras at import would start TF."""
    builders = {name: functools.cache(build) for name, build in builders.items()}

    def __getattr__(name):
        if name not in builders:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return builders[name]()

    return __getattr__
