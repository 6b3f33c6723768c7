"""Violence forecast: fitted, calibrated probabilities of an event per forecast unit.

Small modules, each array-first and tested by hand:

* :mod:`.units` — square forecast units (``block_km`` blocks) on an analysis grid,
  point -> unit index, neighbour rings;
* :mod:`.features` — the feature matrix per unit at an origin date from events known by
  then, and the labels of the horizon window after it;
* :mod:`.model` — rolling-origin training sets, :class:`~.model.ForecastModel` (logistic
  or gradient boosting, chosen by time-ordered CV, calibrated on later held-out origins),
  and the persistence and history baselines;
* :mod:`.evaluate` — AUC, average precision, Brier (skill), block-bootstrap intervals on
  score differences, reliability tables.

No web or map imports; no module here reads files.
"""
