"""Beyond the data: a law's forecast at sizes not seen, its intervals, and the held-out backtest."""

from .backtest import BacktestResult, backtest
from .predict import ExtrapolationWarning, predict_sizes

__all__ = ["BacktestResult", "ExtrapolationWarning", "backtest", "predict_sizes"]
