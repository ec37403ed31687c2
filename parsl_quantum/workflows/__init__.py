"""Mini-apps: one runnable script per motif.

Each mini-app has a ``main(argv=None) -> dict`` that loads :func:`parsl_quantum.configs.local_config`
(or the pilots it needs), runs a small default problem in well under a minute on 2 cores (``--large``
for a bigger one), prints its result and a :class:`parsl_quantum.motifs.TimeBreakdown`, and returns
its figures so that the tests can check the answer. Run one with ``parsl-quantum run <name>`` or
``python -m parsl_quantum.workflows.<name>``.
"""
