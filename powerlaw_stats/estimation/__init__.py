"""Estimators as functions on arrays, and the one registry that names them.

``least_squares`` (QR, single and batched), ``irwls`` (M-estimation, MASS ``rlm`` step for step),
``norms`` (Huber, bisquare), ``mm`` (robustbase ``lmrob``), and ``methods``: one frozen
:class:`~.methods.Method` per estimator, read by fit, simulate, plan, the bootstrap, the report and
the command line. No pandas here.
"""
