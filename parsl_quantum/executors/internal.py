"""The DataFlowKernel's own thread executor, for small steps on the submitting host.

Parsl runs join apps there, and its own ``AppFuture[key]`` and ``AppFuture.attr`` steps as python apps
on it. Motifs and Q-Dreamer use it the same way: to assemble results of other tasks without a thread
waiting for them, so that what the assembling step raises is what the caller's future raises.
"""

INTERNAL_EXECUTOR = "_parsl_internal"
