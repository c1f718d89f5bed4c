# Generates curves_a.R.json: what R computes on curves_a.csv, for the R-parity tests.
#
#   Rscript tests/data/curves_a.R tests/data/curves_a.csv tests/data/curves_a.R.json
#
# Made with R 4.2.2, MASS 7.3-58.2, lmtest 0.9-40, sandwich 3.0-2, robustbase 0.95-0, jsonlite.
# The tests read only the JSON (CI has no R); rerun this after changing what they compare.
#
# Every fit below is one that tests/test_core_r.py or tests/test_mm.py holds our numbers against:
#   ols, wls             lm without and with prior weights w = 1/trials, with HC0/HC1/HC3 standard
#                        errors (sandwich::vcovHC) and lmtest::bptest in both forms; for the weighted
#                        fit also Koenker's statistic on the whitened residuals sqrt(w) * e
#   huber*, bisquare*    MASS::rlm, converged tightly (acc 1e-12) so that any correct IRWLS lands on
#                        the same optimum, and once with MASS's own defaults (maxit 20, acc 1e-4);
#                        case weights (wt.method = "case") once
#   mm_weighted          robustbase::lmrob with its defaults, subsampling seeded by set.seed(1)
#   ols_params_cinic     lm of the model in the parameter count, on the CINIC-10 training rows
suppressMessages({
  library(MASS)
  library(lmtest)
  library(sandwich)
  library(robustbase)
  library(jsonlite)
})

paths <- commandArgs(trailingOnly = TRUE)
if (length(paths) != 2) stop("usage: Rscript curves_a.R IN.csv OUT.json")
runs <- read.csv(paths[1])

# The schema's derived names, as powerlaw_stats.data.schema makes them
runs$TS <- runs$train_size
runs$log_err <- log2(runs$error)
runs$mix <- factor(runs$mixup)
runs$CinicTr <- factor(as.integer(runs$train_set == "cinic10"))
runs$CinicEv <- factor(as.integer(runs$eval_set == "cinic10"))
runs$param <- runs$params
runs$w <- 1 / runs$trials
IXMin <- log2(min(runs$TS))
IPMin <- log2(min(runs$param))

main_model <- log_err ~ I(log2(TS) - IXMin) * (mix + CinicTr * CinicEv)
params_model <- log_err ~ I(log2(TS) - IXMin) * (mix + CinicEv * I(log2(param) - IPMin))
n_coef <- 10  # columns of main_model's model matrix
tight <- 1e-12

# Term names without spaces, as the tests compare them
bare <- function(names) gsub(" ", "", names)

# One row per coefficient: estimate, SE, t, two-sided p and the 95 % interval from Student t with df
wald_rows <- function(estimate, se, df) {
  t <- estimate / se
  half <- qt(0.975, df) * se
  data.frame(term = bare(names(estimate)), estimate = unname(estimate), std_error = unname(se),
             t_value = unname(t), p_value = unname(2 * pt(-abs(t), df)),
             ci_low = unname(estimate - half), ci_high = unname(estimate + half))
}

bp_entry <- function(test) {
  list(statistic = unname(test$statistic), df = unname(test$parameter), p_value = test$p.value)
}

hc_entry <- function(model) {
  out <- list()
  for (kind in c("HC0", "HC1", "HC3")) {
    se <- sqrt(diag(vcovHC(model, type = kind)))
    out[[kind]] <- as.list(setNames(unname(se), bare(names(se))))
  }
  out
}

# lm as summary.lm and confint print it, with the HC SEs and both Breusch-Pagan forms
describe_lm <- function(model) {
  s <- summary(model)
  table <- s$coefficients
  ci <- confint(model)
  rows <- data.frame(term = bare(rownames(table)), estimate = table[, 1], std_error = table[, 2],
                     t_value = table[, 3], p_value = table[, 4], ci_low = ci[rownames(table), 1],
                     ci_high = ci[rownames(table), 2], row.names = NULL)
  list(coefficients = rows, sigma = s$sigma, df_residual = model$df.residual, r_squared = s$r.squared,
       adj_r_squared = s$adj.r.squared, fstatistic = unname(s$fstatistic),
       fitted = unname(fitted(model)), residuals = unname(residuals(model)),
       hc_se = hc_entry(model),
       bptest_studentized = bp_entry(bptest(model, studentize = TRUE)),
       bptest_classic = bp_entry(bptest(model, studentize = FALSE)))
}

# rlm with summary.rlm's SEs; t tests on df residual degrees of freedom
describe_rlm <- function(model, df) {
  table <- summary(model)$coefficients
  list(coefficients = wald_rows(table[, 1], table[, 2], df), scale = model$s, converged = model$converged,
       iterations = length(model$conv), weights = unname(model$w), fitted = unname(fitted(model)),
       residuals = unname(residuals(model)))
}

# Koenker's studentized statistic on the whitened residuals u = sqrt(w) e, regressed on the model matrix
whitened_bp <- function(model, w) {
  u <- sqrt(w) * residuals(model)
  g <- u^2 - mean(u^2)
  aux <- lm.fit(model.matrix(model), g)
  stat <- length(u) * sum(aux$fitted.values^2) / sum(g^2)
  list(statistic = stat, df = aux$rank - 1, p_value = pchisq(stat, aux$rank - 1, lower.tail = FALSE))
}

n <- nrow(runs)
result <- list(n = n, IXMin = IXMin, IPMin = IPMin,
               formula_main = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)",
               formula_params = "log_err ~ I(log2(TS)-IXMin)*(mix+CinicEv*I(log2(param)-IPMin))")
result$ols <- describe_lm(lm(main_model, data = runs))
weighted <- lm(main_model, data = runs, weights = w)
result$wls <- describe_lm(weighted)
result$wls$bptest_whitened <- whitened_bp(weighted, runs$w)

# (rlm's weights are looked up in the data, so each call names them itself rather than through a wrapper)
result$huber_weighted <- describe_rlm(rlm(main_model, runs, weights = w, psi = psi.huber, maxit = 500, acc = tight),
                                      n - n_coef)
result$huber_weighted_r_defaults <- describe_rlm(rlm(main_model, runs, weights = w, psi = psi.huber), n - n_coef)
result$huber_case_weighted <- describe_rlm(rlm(main_model, runs, weights = w, psi = psi.huber, wt.method = "case",
                                               maxit = 500, acc = tight), sum(runs$w) - n_coef)
result$huber <- describe_rlm(rlm(main_model, runs, psi = psi.huber, maxit = 500, acc = tight), n - n_coef)
result$bisquare_weighted <- describe_rlm(rlm(main_model, runs, weights = w, psi = psi.bisquare, maxit = 500, acc = tight),
                                         n - n_coef)
result$bisquare <- describe_rlm(rlm(main_model, runs, psi = psi.bisquare, maxit = 500, acc = tight), n - n_coef)

set.seed(1)
mm <- lmrob(main_model, data = runs, weights = w)
result$mm_weighted <- list(coefficients = wald_rows(coef(mm), summary(mm)$coefficients[, 2], n - n_coef),
                           scale = mm$scale, converged = mm$converged)

cinic <- runs[runs$CinicTr == "1", ]
if (length(unique(cinic$param)) > 1) {
  result$ols_params_cinic <- describe_lm(lm(params_model, data = cinic))
  result$n_params_cinic <- nrow(cinic)
}

writeLines(toJSON(result, digits = NA, auto_unbox = TRUE, dataframe = "rows"), paths[2])
