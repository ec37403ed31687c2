"""Q-Dreamer's planning half: cutting a circuit (``decompose``, ``template``, the cut-search memo
``search``), weighing every way to run it (``candidates``, ``bounds``, ``predict``, ``enumerate``),
rewriting the Parsl DAG into fragment tasks and a reconstruction task (``rewrite``), reconstructing values
and standard errors (``reconstruct``), the submittable plan (``plan``) and its record (``plan_log``)."""
