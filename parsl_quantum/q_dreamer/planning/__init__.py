"""Q-Dreamer's planning half: cutting a circuit (``decompose``, ``template``), weighing every way to run
it (the optimizer), rewriting the Parsl DAG into fragment tasks and a reconstruction task (``rewrite``),
reconstructing values and standard errors (``reconstruct``), the submittable plan (``plan``) and its record
(``plan_log``)."""
