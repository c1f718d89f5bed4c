"""Turn NIST StRD linear-regression files (*.dat, unchanged from NIST) into CSV + certified JSON.

Run from this folder: ``python convert_nist.py``. Each ``NAME.dat`` gives ``NAME.csv`` (the data
block, columns as NIST names them) and an entry of ``certified.json``: the model NIST certifies
(as a formula on the CSV's columns), the parameter estimates and their standard deviations, the
residual standard deviation, R² and the analysis-of-variance table, all as the strings NIST prints
them (converted to float by the tests, so no digit is lost or invented here).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

HERE = Path(__file__).parent
NUM = r"[-+]?\d*\.?\d+(?:[Ee][-+]?\d+)?"


def poly(degree: int) -> str:
    return "y ~ x" + "".join(f" + I(x**{k})" for k in range(2, degree + 1))


# the model each file certifies, written for powerlaw_stats.fit (Python's ** for powers: ^ is the
# subject of issue 12 and tested on its own)
MODELS = {
    "Norris": "y ~ x",
    "Pontius": poly(2),
    "NoInt1": "y ~ 0 + x",
    "NoInt2": "y ~ 0 + x",
    "Filip": poly(10),
    "Longley": "y ~ x1 + x2 + x3 + x4 + x5 + x6",
    **{f"Wampler{i}": poly(5) for i in range(1, 6)},
}


def parse(path: Path) -> tuple[list[str], list[list[str]], dict]:
    lines = path.read_text().splitlines()
    data_at = next(i for i, line in enumerate(lines) if line.strip().startswith("Data:") and "y" in line.split())
    columns = lines[data_at].split()[1:]
    rows = [line.split() for line in lines[data_at + 1:] if line.strip()]
    text = "\n".join(lines[:data_at])
    params = re.findall(rf"^\s*B(\d+)\s+({NUM})\s+({NUM})\s*$", text, flags=re.M)
    cert = {
        "parameters": [{"name": f"B{k}", "estimate": est, "std_dev": sd} for k, est, sd in params],
        "residual_sd": re.search(rf"Standard Deviation\s+({NUM})\s*$", text, flags=re.M).group(1),
        "r_squared": re.search(rf"R-Squared\s+({NUM})", text).group(1),
    }
    reg = re.search(rf"^Regression\s+(\d+)\s+({NUM})\s+({NUM})\s+({NUM}|Infinity)", text, flags=re.M)
    res = re.search(rf"^Residual\s+(\d+)\s+({NUM})\s+({NUM})", text, flags=re.M)
    cert["anova"] = {"regression": {"df": reg.group(1), "ss": reg.group(2), "ms": reg.group(3), "f": reg.group(4)},
                     "residual": {"df": res.group(1), "ss": res.group(2), "ms": res.group(3)}}
    return columns, rows, cert


def main() -> None:
    out = {}
    for name, formula in MODELS.items():
        columns, rows, cert = parse(HERE / f"{name}.dat")
        with open(HERE / f"{name}.csv", "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)
        out[name] = {"file": f"{name}.csv", "formula": formula, "nobs": len(rows), **cert}
    (HERE / "certified.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
