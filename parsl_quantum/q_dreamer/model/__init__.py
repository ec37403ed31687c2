"""Q-Dreamer's model half: what a task costs on a pilot (``models``), fitting those costs per pilot
(``calibrate``) and timing the circuit at hand before predicting it (``probe``)."""
