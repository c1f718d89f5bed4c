# CR2 (Bell-McCaffrey) cluster-robust covariances on curves_a.csv, for tests/test_cr2.py.
# Run from the repository root: Rscript tests/data/cr2/make_cr2_refs.R
# sandwich's vcovCL(type = "HC2") adjusts each cluster's residuals by (I - H_gg)^(-1/2) and
# multiplies by (G-1)/G, which its default cadjust = TRUE (G/(G-1)) cancels: that is Bell and
# McCaffrey's CR2 of an (unweighted or weighted) lm with a working covariance proportional to
# diag(1/w), the case our cr2_design reduces to.
suppressPackageStartupMessages({library(sandwich); library(jsonlite)})
d <- read.csv("tests/data/curves_a.csv")
d$TS <- d$train_size
d$log_err <- log2(d$error)
d$mix <- factor(d$mixup)
d$w <- 1 / d$trials
d$split_id <- paste(d$train_set, d$n_splits, d$split, sep = ":")
formula <- log_err ~ I(log2(TS) - 11) * mix
one <- function(fit, cluster) {
  v <- vcovCL(fit, cluster = d[[cluster]], type = "HC2")
  list(names = names(coef(fit)), coef = unname(coef(fit)), vcov = unname(v))
}
ols <- lm(formula, data = d)
wls <- lm(formula, data = d, weights = w)
out <- list(
  versions = list(R = as.character(getRversion()), sandwich = as.character(packageVersion("sandwich"))),
  formula = "log_err ~ I(log2(TS) - 11) * mix",
  ols_run = one(ols, "run_id"), ols_split = one(ols, "split_id"),
  wls_run = one(wls, "run_id"), wls_split = one(wls, "split_id"))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "tests/data/cr2/cr2_curves_a.json")
