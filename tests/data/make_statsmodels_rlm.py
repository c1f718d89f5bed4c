"""Write statsmodels' RLM reference results on stackloss as JSON (statsmodels_rlm.json).

Run with statsmodels installed (its test results ship with the package):
``python make_statsmodels_rlm.py``. statsmodels 0.15.0 was used. The classes are statsmodels'
reference values: Huber and BiSquare (MAD scale) come from R's ``MASS::rlm`` at its defaults,
HuberHuber and BisquareHuber (Huber's proposal-2 scale) and every ``h1``/``h2``/``h3``
covariance from SAS. Hampel and Andrews are left out: this package has no such psi functions.
statsmodels orders the columns Air.Flow, Water.Temp, Acid.Conc., const; so does this file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import statsmodels
from statsmodels.robust.tests.results import results_rlm as ref

OUT = Path(__file__).parent / "statsmodels_rlm.json"
FIELDS = ("params", "bse", "scale", "weights", "resid", "df_resid", "tvalues", "h1", "h2", "h3")
CASES = {  # our name: (statsmodels class, psi, scale estimator, where statsmodels took the numbers)
    "huber_mad": ("Huber", "huber", "MAD", "R MASS::rlm defaults; covariances SAS"),
    "bisquare_mad": ("BiSquare", "bisquare", "MAD", "R MASS::rlm defaults; covariances SAS"),
    "huber_proposal2": ("HuberHuber", "huber", "proposal2", "SAS"),
    "bisquare_proposal2": ("BisquareHuber", "bisquare", "proposal2", "SAS"),
}


def as_list(value):
    return np.asarray(value, dtype=float).tolist()


def main() -> None:
    out = {"source": f"statsmodels {statsmodels.__version__}, statsmodels/robust/tests/results/results_rlm.py",
           "columns": ["Air.Flow", "Water.Temp", "Acid.Conc.", "const"]}
    for name, (cls, psi, scale_est, origin) in CASES.items():
        obj = getattr(ref, cls)()
        entry = {"statsmodels_class": cls, "psi": psi, "scale_est": scale_est, "origin": origin}
        for field in FIELDS:
            if hasattr(obj, field):
                entry[field] = as_list(getattr(obj, field))
        if hasattr(obj, "conf_int"):
            entry["conf_int"] = as_list(obj.conf_int())
        out[name] = entry
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
