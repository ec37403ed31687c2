"""Q-Dreamer's model half: what a task costs on a pilot (``models``), how many distinct outcomes it gives
(``outcomes``), when tasks placed on the pilots' slots finish (``schedule``), fitting the costs per pilot
(``calibrate``) and timing the circuit at hand before predicting it (``probe``)."""
