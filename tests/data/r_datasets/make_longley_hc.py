"""HC0/HC1/HC3 standard errors of ``lm(Employed ~ ., longley)`` in 50-digit arithmetic (mpmath).

R's sandwich loses 7-8 digits on this design (condition number about 5e9: its HC SEs are 3e-9 to
3.5e-8 from the exact answer), so test_r_datasets.py compares our Longley HC standard errors with
these instead. Run: ``python make_longley_hc.py`` (needs mpmath); writes longley_hc_mp.json.
The data are longley.csv as R wrote it; each decimal in the file is taken as the double it parses
to, so this is the exact answer for the numbers both R and we fit.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import mpmath as mp

HERE = Path(__file__).parent
COLUMNS = ["GNP.deflator", "GNP", "Unemployed", "Armed.Forces", "Population", "Year"]


def main() -> None:
    mp.mp.dps = 50
    rows = list(csv.DictReader(open(HERE / "longley.csv")))
    x = mp.matrix([[1] + [mp.mpf(float(r[c])) for c in COLUMNS] for r in rows])
    y = mp.matrix([mp.mpf(float(r["Employed"])) for r in rows])
    n, p = x.rows, x.cols
    inv = (x.T * x) ** -1
    e = y - x * (inv * (x.T * y))
    lev = [(x[i, :] * inv * x[i, :].T)[0] for i in range(n)]
    out = {}
    for kind, omega in (("HC0", [e[i] ** 2 for i in range(n)]),
                        ("HC1", [e[i] ** 2 * n / (n - p) for i in range(n)]),
                        ("HC3", [e[i] ** 2 / (1 - lev[i]) ** 2 for i in range(n)])):
        meat = mp.zeros(p, p)
        for i in range(n):
            meat += omega[i] * (x[i, :].T * x[i, :])
        cov = inv * meat * inv
        out[kind] = [mp.nstr(mp.sqrt(cov[j, j]), 25) for j in range(p)]
    out["note"] = "lm(Employed ~ ., longley) HC standard errors at 50 digits (mpmath), R's coefficient order"
    (HERE / "longley_hc_mp.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
