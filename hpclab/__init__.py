"""hpclab: helpers for a Jupyter-first course on high-performance deep learning.

Importing hpclab does not import TensorFlow: device configuration
(``hpclab.devices.configure``) must come before the TF runtime starts.
Modules, one concern each:
  devices   inventory and the setup-cell call configure()        (notebooks 00, 01)
  strategy  resolve(): TPU, GPUs, logical CPUs or default         (04, 07)
  train     training under a strategy, reused by later lessons    (04, 05)
  cluster   launch local multi-worker jobs; worker: their wrapper (06)
  pipeline  timelines and the GPipe schedule                      (08)
  prune     magnitude pruning for Keras 3                         (09)
  quantize  TFLite conversion and evaluation with ai_edge_litert  (10)
  distill   knowledge distillation                                (12)
  data, models, bench: offline digits, small models, timing
  doctor, execute, cli: the `hpclab` command (doctor, execute for make execute/bench)
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
