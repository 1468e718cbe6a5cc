"""Runnable reproductions of the training results the source documents report.

Each module has ``run(...) -> dict`` (the figures, with options to run fewer steps in
tests) and ``main()`` that prints them: ``python -m reference_nets.examples.<name>``.
All training uses the hand-derived gradients that the suite checks.
"""
