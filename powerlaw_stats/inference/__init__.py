"""Standard errors and tests on fitted arrays.

``covariance`` (classic, HC0/HC1/HC3, cluster-robust CR1/CR3), ``tests``
(t tests and quantiles, Breusch-Pagan), ``distributions`` (t, chi-square and F tails without
scipy) and ``bootstrap`` (the wild bootstrap of any estimator in the registry).
"""
