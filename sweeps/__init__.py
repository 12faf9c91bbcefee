"""Hyperparameter sweeps: Optuna TPE over config keys, each trial a normal training run (``sweep.py``)."""
