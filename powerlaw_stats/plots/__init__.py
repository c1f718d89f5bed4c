"""Figures, drawn on matplotlib's object API and imported only when a figure is made.

``fit`` (learning curves, QQ plots, residual plots, and the figure plumbing), ``simulation``
(the estimate and SE histograms, the summary figure), ``scaling`` (region and power-cost figures).
"""
