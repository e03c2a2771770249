"""One configuration, unbatched: the simulated model (docs/MODEL.md) and everything
that defines and costs it.

Data and noise (``data``, ``reduced``, ``backends``, ``images``), the CNNs (``models``),
named activations / losses / optimizers (``registry``), gradient descent
(``training``), what a student records (``metrics``), the weak-to-strong pipeline
(``pipeline``, ``custom_student``), a configuration's keys and its static / traced
split (``config``, ``identity``, ``errors``) and the one cost model (``cost_model``).
Nothing here batches, compiles or writes files.
"""
