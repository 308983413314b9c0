"""``explore bench``: one module per benchmark, each writing JSON under ``results/bench/``.

- :mod:`~explore.bench.fqt`: simulator throughput and compile time;
- :mod:`~explore.bench.evaluate`: one trial's stages, and accuracy against AGP sparsity;
- :mod:`~explore.bench.cost`: genomes costed per second;
- :mod:`~explore.bench.runtime`: runtime_c under QEMU, and the cost model's calibration;
- :mod:`~explore.bench.search`: samplers' hypervolume against wall time.

Each is imported from its own module: they pull in JAX, QEMU or Optuna as they need.
"""
