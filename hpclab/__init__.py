"""hpclab: helpers for a Jupyter-first course on high-performance deep learning.

Importing hpclab does not import TensorFlow: device configuration
(``hpclab.devices.configure``) must come before the TF runtime starts.
Modules: devices, strategy, data, models, bench, doctor, execute, cli.
"""

__version__ = "0.1.0"
