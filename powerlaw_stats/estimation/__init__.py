"""Estimators beyond least squares and M-estimation: linear mixed models with lme4's formula syntax.

``mixed_terms`` reads the random-effect bars out of a formula and builds each term's model matrix,
grouping codes and relative covariance factor; ``mixed_core`` holds the profiled deviance and its
optimizer; ``satterthwaite`` lmerTest's denominator degrees of freedom; ``mixed_profile`` profile
likelihood intervals for the variance components; ``mixed`` the front door :func:`fit_mixed` and
its frozen result.
"""
