"""Scoring perturbations: the measures (`metrics`, `stats`), what is scored (`sources`), the run over targets
(`evaluate_lib`) and how it is shown (`report`, `plots`, `perturbation_sets`)."""
