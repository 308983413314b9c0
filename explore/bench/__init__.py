"""``explore bench``: one module per benchmark, each writing JSON under ``results/bench/``.

- :mod:`~explore.bench.fqt`: simulator throughput against a plain optax step, and compile time;
- :mod:`~explore.bench.evaluate`: one trial's stages against the compute limit (the work counted by
  :mod:`~explore.bench.trial_work`, the throughput measured by :mod:`~explore.bench.throughput`),
  cold and on a warm compilation cache, and accuracy against AGP sparsity;
- :mod:`~explore.bench.cost`: genomes costed per second;
- :mod:`~explore.bench.runtime`: runtime_c under QEMU, and the cost model's calibration;
- :mod:`~explore.bench.search`: samplers' hypervolume against wall time.

Each is imported from its own module: they pull in JAX, QEMU or Optuna as they need.
"""
