"""The parts of :mod:`benchmarks.gpu_check`: its config, table and runner, data, model, and one module
per measurement (rows)."""
