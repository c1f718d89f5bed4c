# Reference numbers for powerlaw_stats' linear mixed models (tests/test_mixed_r.py).
#
# Run from the repository root:  Rscript tests/data/mixed/make_mixed_refs.R
# Needs R >= 4.2 with lme4, lmerTest, numDeriv and jsonlite. Writes the lme4 data sets it uses as
# CSV (sleepstudy, Penicillin, Pastes, Dyestuff2) and one JSON file per case into tests/data/mixed/.
#
# Every model is fitted twice: with a tight optimizer (nloptwrap's BOBYQA run to 1e-13 in theta),
# whose numbers are the references, and with lmer's default control, kept as `default_theta` to show
# how far R's own default stops from the optimum.
suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)
  library(jsonlite)
})

out_dir <- "tests/data/mixed"
stopifnot(dir.exists(out_dir))
tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(xtol_abs = 1e-13, ftol_abs = 1e-15, xtol_rel = 1e-13,
                                    ftol_rel = 1e-15, maxeval = 1e5))

# ------------------------------------------------------------------------------------ data
write_data <- function(d, name) {
  write.csv(d, file.path(out_dir, name), row.names = FALSE)
  read.csv(file.path(out_dir, name), stringsAsFactors = TRUE)
}
sleep <- write_data(lme4::sleepstudy, "sleepstudy.csv")
sleep$Subject <- factor(sleep$Subject)
penicillin <- write_data(lme4::Penicillin, "penicillin.csv")
pastes <- write_data(lme4::Pastes[, c("strength", "batch", "cask")], "pastes.csv")
dyestuff2 <- write_data(lme4::Dyestuff2, "dyestuff2.csv")

# the learning-curve schema's derived names, as powerlaw_stats.data defines them
schema <- function(d) {
  d$TS <- d$train_size
  d$log_err <- log2(d$error)
  d$mix <- factor(d$mixup, levels = c(0, 1))
  d$CinicTr <- factor(as.integer(d$train_set == "cinic10"), levels = c(0, 1))
  d$CinicEv <- factor(as.integer(d$eval_set == "cinic10"), levels = c(0, 1))
  d$TrainSet <- factor(d$train_set)
  d$EvalSet <- factor(d$eval_set)
  d$w <- 1 / d$trials
  d$split_id <- paste(d$train_set, d$n_splits, d$split, sep = ":")
  d$run_id <- as.character(d$run_id)
  d
}
curves_a <- schema(read.csv("tests/data/curves_a.csv", stringsAsFactors = FALSE))
IXMin <- log2(min(curves_a$TS))
digits <- schema(read.csv("powerlaw_stats/data/datasets/digits_curves.csv", stringsAsFactors = FALSE,
                          colClasses = c(run_id = "character")))

# ------------------------------------------------------------------------------------ one case
vec <- function(x) I(unname(x))  # a JSON array even when of length one (auto_unbox would make it a number)

fit_case <- function(name, formula, data, data_file, REML = TRUE, weights = NULL, let = list(),
                     profile = FALSE) {
  env <- list2env(c(let, list(data = data)), parent = globalenv())
  environment(formula) <- env
  call_fit <- function(control) {
    if (is.null(weights)) {
      lmerTest::lmer(formula, data = data, REML = REML, control = control)
    } else {
      data$.w <- data[[weights]]
      lmerTest::lmer(formula, data = data, REML = REML, weights = .w, control = control)
    }
  }
  m <- call_fit(tight)
  m_default <- suppressMessages(suppressWarnings(call_fit(lmerControl())))
  s <- summary(m)
  cf <- coef(s)
  vc <- as.data.frame(VarCorr(m))
  ngroups <- vapply(getME(m, "flist"), nlevels, 1L)
  re <- ranef(m)
  ranef_out <- lapply(names(re), function(g) {
    list(group = g, levels = vec(rownames(re[[g]])), columns = vec(colnames(re[[g]])),
         values = unname(as.matrix(re[[g]])))
  })
  ll <- logLik(m)
  out <- list(
    name = name, data = data_file, formula = paste(deparse(formula, width.cutoff = 500), collapse = ""),
    weights = weights, REML = REML, let = let,
    versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                    lmerTest = as.character(packageVersion("lmerTest")),
                    Matrix = as.character(packageVersion("Matrix"))),
    fixef = list(names = vec(rownames(cf)), estimate = vec(cf[, "Estimate"]),
                 std_error = vec(cf[, "Std. Error"]), df = vec(cf[, "df"]),
                 t_value = vec(cf[, "t value"]), p_value = vec(cf[, "Pr(>|t|)"])),
    vcov = unname(as.matrix(vcov(m))),
    theta = vec(getME(m, "theta")), theta_names = vec(names(getME(m, "theta"))),
    default_theta = vec(getME(m_default, "theta")),
    sigma = sigma(m),
    varcorr = list(grp = vc$grp, var1 = ifelse(is.na(vc$var1), "", vc$var1),
                   var2 = ifelse(is.na(vc$var2), "", vc$var2), vcov = vc$vcov, sdcor = vc$sdcor),
    loglik = as.numeric(ll), loglik_df = attr(ll, "df"), aic = AIC(m), bic = BIC(m),
    deviance = if (REML) unname(getME(m, "devcomp")$cmp[["REML"]]) else deviance(m),
    nobs = nobs(m), ngroups = as.list(ngroups), is_singular = isSingular(m),
    resid = vec(residuals(m)), fitted = vec(fitted(m)), ranef = ranef_out,
    profile = NULL
  )
  if (profile) {
    ci <- suppressMessages(suppressWarnings(
      confint(m, method = "profile", oldNames = FALSE, parm = "theta_", level = 0.95)))
    out$profile <- list(method = "profile (ML deviance, as lme4 refits REML fits)", level = 0.95,
                        names = vec(rownames(ci)), lower = vec(ci[, 1]), upper = vec(ci[, 2]))
  }
  write(toJSON(out, digits = NA, auto_unbox = TRUE, null = "null", na = "null", pretty = TRUE),
        file.path(out_dir, paste0(name, ".json")))
  invisible(m)
}

lrt_case <- function(name, small, big) {
  a <- suppressMessages(anova(small, big))  # refits REML fits with ML, as anova.merMod does
  out <- list(name = name, npar = unname(a$npar), loglik = unname(a$logLik),
              aic = unname(a$AIC), bic = unname(a$BIC), deviance = unname(a$deviance),
              chisq = unname(a$Chisq[2]), df = unname(a$Df[2]), p_value = unname(a[["Pr(>Chisq)"]][2]))
  write(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), file.path(out_dir, paste0("lrt_", name, ".json")))
}

# ------------------------------------------------------------------------------------ cases
seed_rhs <- "I(log2(TS)-IXMin)*(mix+CinicTr*CinicEv)"
f_run <- as.formula(paste("log_err ~", seed_rhs, "+ (1|run_id)"))
f_both <- as.formula(paste("log_err ~", seed_rhs, "+ (1|run_id) + (1|split_id)"))
f_fixed_small <- as.formula("log_err ~ I(log2(TS)-IXMin)*(CinicTr*CinicEv) + (1|run_id) + (1|split_id)")
ixmin <- list(IXMin = IXMin)

ca_run <- fit_case("curves_a_run_reml", f_run, curves_a, "../curves_a.csv", let = ixmin, profile = TRUE)
fit_case("curves_a_run_ml", f_run, curves_a, "../curves_a.csv", REML = FALSE, let = ixmin)
fit_case("curves_a_run_w_reml", f_run, curves_a, "../curves_a.csv", weights = "w", let = ixmin)
fit_case("curves_a_run_w_ml", f_run, curves_a, "../curves_a.csv", REML = FALSE, weights = "w", let = ixmin)
ca_both <- fit_case("curves_a_crossed_reml", f_both, curves_a, "../curves_a.csv", let = ixmin)
fit_case("curves_a_crossed_w_ml", f_both, curves_a, "../curves_a.csv", REML = FALSE, weights = "w", let = ixmin)
ca_small <- fit_case("curves_a_crossed_nomix_reml", f_fixed_small, curves_a, "../curves_a.csv", let = ixmin)

digits_rhs <- "I(log2(TS)-IXMin)*(mix+TrainSet*EvalSet)"
f_digits <- as.formula(paste("log_err ~", digits_rhs, "+ (1|run_id) + (1|split_id)"))
dg <- fit_case("digits_crossed_w_reml", f_digits, digits, "../../../powerlaw_stats/data/datasets/digits_curves.csv",
               weights = "w", let = list(IXMin = log2(min(digits$TS))), profile = TRUE)
fit_case("digits_crossed_reml", f_digits, digits, "../../../powerlaw_stats/data/datasets/digits_curves.csv",
         let = list(IXMin = log2(min(digits$TS))))

fit_case("penicillin_crossed_reml", diameter ~ 1 + (1 | plate) + (1 | sample), penicillin, "penicillin.csv",
         profile = TRUE)
fit_case("pastes_nested_reml", strength ~ 1 + (1 | batch / cask), pastes, "pastes.csv", profile = TRUE)
ss_corr <- fit_case("sleepstudy_slope_reml", Reaction ~ Days + (Days | Subject), sleep, "sleepstudy.csv",
                    profile = TRUE)
fit_case("sleepstudy_slope_ml", Reaction ~ Days + (Days | Subject), sleep, "sleepstudy.csv", REML = FALSE)
ss_uncorr <- fit_case("sleepstudy_uncorr_reml", Reaction ~ Days + (Days || Subject), sleep, "sleepstudy.csv")
fit_case("sleepstudy_uncorr2_reml", Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleep, "sleepstudy.csv")
ss_int <- fit_case("sleepstudy_int_reml", Reaction ~ Days + (1 | Subject), sleep, "sleepstudy.csv")
fit_case("dyestuff2_singular_reml", Yield ~ 1 + (1 | Batch), dyestuff2, "dyestuff2.csv", profile = TRUE)

lrt_case("sleepstudy_slope", ss_int, ss_corr)
lrt_case("sleepstudy_corr", ss_uncorr, ss_corr)
lrt_case("curves_a_split", ca_run, ca_both)
lrt_case("curves_a_mix", ca_small, ca_both)
cat("wrote", length(list.files(out_dir, pattern = "json$")), "JSON files to", out_dir, "\n")
