"""Mini-apps: one runnable script per motif.

Each mini-app has a ``main(argv=None) -> dict`` that loads :func:`parsl_quantum.configs.local_config`
(or the pilots it needs), runs a small default problem (``--large`` for a bigger one), prints its result
and a :class:`parsl_quantum.motifs.TimeBreakdown`, and judges itself with
:func:`parsl_quantum.workflows.common.verdict`: one ``PASS``/``FAIL`` line per checked figure, and its
figures returned with ``"passed"``. Run one with ``parsl-quantum run <name>`` or
``python -m parsl_quantum.workflows.<name>``; either exits 1 when a check fails.
"""
