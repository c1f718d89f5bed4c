"""Beyond the data: a law's forecast at sizes not seen, its intervals, and the held-out backtest."""
