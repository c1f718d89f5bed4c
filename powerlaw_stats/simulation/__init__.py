"""Do an estimator's standard errors hold up on data like ours?

``simulate`` draws data sets from a real fit's truth and residuals and fits every estimator to
all of them; ``engine`` runs seeded chunks of trials (shared with :func:`powerlaw_stats.plan`);
``residuals`` learns the residual models; ``designs`` rebuilds the rows under a trial scheme.
"""
