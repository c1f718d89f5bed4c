"""The scaling-study tools.

``effect`` (one factor's change to intercept and slope over groups), ``region`` (is every size in
the power-law region?) and ``plan`` (power and cost of candidate designs, on the simulation engine).
"""
