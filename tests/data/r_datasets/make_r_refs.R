# R's answers on R's own data sets and on NIST StRD data, for tests/test_r_parity.py and
# tests/test_nist.py. Run from this folder after write_datasets.R (and ../nist/convert_nist.py):
#
#     Rscript make_r_refs.R        # writes r_refs.json
#
# Versions used for the committed JSON: R 4.2.2, MASS 7.3-58.2, sandwich 3.0-2, lmtest 0.9-40,
# robustbase 0.95-0, jsonlite 1.8.4. Every fit reads the CSV files beside this script (and the
# NIST CSVs in ../nist), so R and the tests see the same numbers.
#
# Conventions of the JSON: coefficients in R's order with R's names; NA/NaN/Inf written as the
# strings "NA", "NaN", "Inf", "-Inf" (the tests turn them into floats); 15 significant digits.

suppressPackageStartupMessages({
  library(MASS); library(sandwich); library(lmtest); library(robustbase); library(jsonlite)
})

read_r <- function(name, ...) read.csv(paste0(name, ".csv"), ...)
read_nist <- function(name) read.csv(file.path("..", "nist", paste0(name, ".csv")))

mtcars_csv <- read_r("mtcars", row.names = 1)
airquality_csv <- read_r("airquality")
stackloss_csv <- read_r("stackloss")
hills_csv <- read_r("hills", row.names = 1)
phones_csv <- read_r("phones")
longley_csv <- read_r("longley")
plantgrowth_csv <- read_r("PlantGrowth", stringsAsFactors = TRUE)

TIGHT <- list(acc = 1e-12, maxit = 1000)   # "converged tightly"; MASS's defaults are acc 1e-4, maxit 20

coef_table <- function(est, se, df) {
  tv <- est / se
  list(term = names(est), estimate = unname(est), std_error = unname(se), t_value = unname(tv),
       p_value = unname(2 * pt(abs(tv), df, lower.tail = FALSE)))
}

lm_ref <- function(fit, hc = TRUE) {
  s <- summary(fit)
  est <- coef(fit)                              # NA for aliased terms, in R's order
  se <- setNames(rep(NA_real_, length(est)), names(est))
  se[rownames(s$coefficients)] <- s$coefficients[, 2]
  out <- list(coefficients = coef_table(est, se, fit$df.residual),
              sigma = s$sigma, df_resid = fit$df.residual, nobs = nobs(fit),
              r_squared = s$r.squared, adj_r_squared = s$adj.r.squared,
              aliased = names(est)[is.na(est)],
              confint_95 = unname(confint(fit, level = 0.95)), confint_90 = unname(confint(fit, level = 0.90)))
  if (!is.null(s$fstatistic))
    out$fstatistic <- list(value = unname(s$fstatistic[1]), numdf = unname(s$fstatistic[2]),
                           dendf = unname(s$fstatistic[3]),
                           p_value = unname(pf(s$fstatistic[1], s$fstatistic[2], s$fstatistic[3], lower.tail = FALSE)))
  if (!is.null(fit$na.action)) out$n_dropped <- length(fit$na.action)
  if (hc && !any(is.na(est)))
    for (type in c("HC0", "HC1", "HC3")) out[[type]] <- unname(sqrt(diag(vcovHC(fit, type = type))))
  out
}

rlm_ref <- function(formula, data, psi, settings = list(), scale.est = "MAD") {
  fit <- do.call(rlm, c(list(formula, data = data, psi = psi, scale.est = scale.est), settings))
  s <- summary(fit)                             # method "XtX", MASS's default
  list(coefficients = coef_table(coef(fit), s$coefficients[, 2], fit$df.residual),
       scale = fit$s, converged = fit$converged, n_iter = length(fit$conv),
       weights = unname(fit$w), resid = unname(residuals(fit)),
       settings = c(settings, list(scale_est = scale.est)))
}

lmrob_ref <- function(formula, data, seed = 1) {
  set.seed(seed)
  fit <- lmrob(formula, data = data)            # robustbase's defaults: MM, bisquare, .vcov.avar1
  est <- coef(fit)
  list(coefficients = coef_table(est, sqrt(diag(vcov(fit))), fit$df.residual),
       scale = fit$scale, converged = fit$converged, n_iter = fit$iter,
       s_coefficients = unname(fit$init.S$coefficients), s_scale = fit$init.S$scale,
       s_converged = fit$init.S$converged, s_k_iter = fit$init.S$k.iter,
       weights = unname(weights(fit, type = "robustness")))
}

bp_ref <- function(fit) {
  s <- bptest(fit)
  c <- bptest(fit, studentize = FALSE)
  list(studentized = list(statistic = unname(s$statistic), df = unname(s$parameter), p_value = s$p.value),
       classic = list(statistic = unname(c$statistic), df = unname(c$parameter), p_value = c$p.value))
}

robust_set <- function(formula, data) {
  list(huber_tight = rlm_ref(formula, data, psi.huber, TIGHT),
       bisquare_tight = rlm_ref(formula, data, psi.bisquare, TIGHT),
       huber_r_defaults = rlm_ref(formula, data, psi.huber),
       bisquare_r_defaults = rlm_ref(formula, data, psi.bisquare),
       lmrob = lmrob_ref(formula, data))
}

refs <- list()

# ---- item 1: I(hp^2) is a power ----------------------------------------------------------------
f <- mpg ~ wt + I(hp^2)
fit <- lm(f, mtcars_csv)
refs$mtcars_hp2 <- c(list(formula = "mpg ~ wt + I(hp^2)", lm = lm_ref(fit), bptest = bp_ref(fit)),
                     robust_set(f, mtcars_csv))
refs$mtcars_wt2 <- list(formula = "mpg ~ wt + I(wt^2)", lm = lm_ref(lm(mpg ~ wt + I(wt^2), mtcars_csv)))

# ---- item 2: a cluster column that is also a regressor, with NA rows --------------------------
fit <- lm(Ozone ~ Wind + factor(Month), airquality_csv)
refs$airquality_month <- list(
  formula = "Ozone ~ Wind + factor(Month)", lm = lm_ref(fit),
  # sandwich's vcovCL with type HC1 and cadjust = TRUE is G/(G-1) (n-1)/(n-p) times the clustered
  # sandwich: the same factor as our CR1 (inference.py), so the standard errors compare directly
  cr1_month = unname(sqrt(diag(vcovCL(fit, cluster = ~Month, type = "HC1", cadjust = TRUE)))),
  n_clusters = length(unique(airquality_csv$Month[complete.cases(airquality_csv[, c("Ozone", "Wind", "Month")])])))

# ---- item 3: R's na.omit ----------------------------------------------------------------------
fit <- lm(Ozone ~ Solar.R, airquality_csv)
refs$airquality_solar <- list(formula = "Ozone ~ Solar.R", lm = lm_ref(fit), n_source = nrow(airquality_csv))
aq_w <- transform(airquality_csv, w = ifelse(Day %% 5 == 0, NA, 1 / Temp))   # NA weights: R drops those rows
fit <- lm(Ozone ~ Wind, aq_w, weights = w)
refs$airquality_na_weights <- list(formula = "Ozone ~ Wind", weights = "w = 1/Temp, NA where Day %% 5 == 0",
                                   lm = lm_ref(fit, hc = FALSE))
log_data <- data.frame(y = c(1.2, 2.3, 2.9, 4.1, 5.2, 5.8, 7.1), x = c(-1, 2, 3, 4, 5, 6, 7))
fit <- suppressWarnings(lm(y ~ log(x), log_data))                           # log(-1) is NaN: R drops the row
refs$log_negative <- list(formula = "y ~ log(x)", data = log_data, lm = lm_ref(fit, hc = FALSE))

# ---- items 4 and 9: MM on Pontius (x ~ 1e6), lmrob's default stopping -------------------------
pontius <- read_nist("Pontius")
refs$pontius_mm <- list(formula = "y ~ x + I(x^2)", lm = lm_ref(lm(y ~ x + I(x^2), pontius), hc = FALSE),
                        lmrob = lmrob_ref(y ~ x + I(x^2), pontius))

# ---- item 5: factor() names -------------------------------------------------------------------
refs$mtcars_factor_am <- list(formula = "mpg ~ 0 + factor(am)", lm = lm_ref(lm(mpg ~ 0 + factor(am), mtcars_csv)))
refs$mtcars_factor_cyl <- list(formula = "mpg ~ wt + factor(cyl)", lm = lm_ref(lm(mpg ~ wt + factor(cyl), mtcars_csv)))
fit <- lm(weight ~ group, plantgrowth_csv)
refs$plantgrowth <- c(list(formula = "weight ~ group", lm = lm_ref(fit), bptest = bp_ref(fit)),
                      robust_set(weight ~ group, plantgrowth_csv))

# ---- item 6: robust fits on ill-conditioned designs -------------------------------------------
longley_nist <- read_nist("Longley")
f <- y ~ x1 + x2 + x3 + x4 + x5 + x6
refs$longley_nist <- c(list(formula = "y ~ x1 + x2 + x3 + x4 + x5 + x6", lm = lm_ref(lm(f, longley_nist))),
                       robust_set(f, longley_nist))
wampler4 <- read_nist("Wampler4")
f <- y ~ x + I(x^2) + I(x^3) + I(x^4) + I(x^5)
refs$wampler4 <- c(list(formula = "y ~ x + I(x^2) + I(x^3) + I(x^4) + I(x^5)", lm = lm_ref(lm(f, wampler4))),
                   robust_set(f, wampler4))
filip <- read_nist("Filip")
refs$filip <- list(formula = "y ~ x + I(x^2) + ... + I(x^10)",
                   lm = lm_ref(lm(y ~ x + I(x^2) + I(x^3) + I(x^4) + I(x^5) + I(x^6) + I(x^7) + I(x^8) + I(x^9) + I(x^10),
                                  filip), hc = FALSE))

# ---- R's classic data sets ----------------------------------------------------------------------
f <- stack.loss ~ Air.Flow + Water.Temp + Acid.Conc.
fit <- lm(f, stackloss_csv)
refs$stackloss <- c(list(formula = "stack.loss ~ Air.Flow + Water.Temp + Acid.Conc.", lm = lm_ref(fit), bptest = bp_ref(fit),
                         huber_proposal2_r_defaults = rlm_ref(f, stackloss_csv, psi.huber, scale.est = "Huber"),
                         huber_proposal2_tight = rlm_ref(f, stackloss_csv, psi.huber, TIGHT, scale.est = "Huber")),
                    robust_set(f, stackloss_csv))
f <- time ~ dist + climb
fit <- lm(f, hills_csv)
refs$hills <- c(list(formula = "time ~ dist + climb", lm = lm_ref(fit), bptest = bp_ref(fit)), robust_set(f, hills_csv))
f <- calls ~ year
fit <- lm(f, phones_csv)
refs$phones <- c(list(formula = "calls ~ year", lm = lm_ref(fit), bptest = bp_ref(fit)), robust_set(f, phones_csv))
fit <- lm(Employed ~ ., longley_csv)
refs$longley <- list(formula = "Employed ~ .", lm = lm_ref(fit), bptest = bp_ref(fit))

# ---- item 7: a constant response ----------------------------------------------------------------
const <- data.frame(y = rep(3, 6), x = c(1, 2, 3, 5, 8, 13))
s <- suppressWarnings(summary(lm(y ~ x, const)))
refs$constant_response <- list(data = const, r_squared = s$r.squared, sigma = s$sigma,
                               note = "summary.lm warns 'essentially perfect fit'; its R-squared is rounding noise or NaN")

# case weights in least squares are frequency weights: the fit of the table with each row repeated
expanded <- mtcars_csv[rep(seq_len(nrow(mtcars_csv)), mtcars_csv$cyl), ]
refs$mtcars_case_weights <- list(formula = "mpg ~ wt", weights = "cyl, as case (frequency) weights",
                                 lm = lm_ref(lm(mpg ~ wt, expanded), hc = FALSE))

# ---- notebook: summary() prints R's text -------------------------------------------------------
fit <- lm(mpg ~ wt + qsec, mtcars_csv)
refs$mtcars_summary <- list(formula = "mpg ~ wt + qsec", lm = lm_ref(fit),
                            summary_text = capture.output(print(summary(fit))))

refs$versions <- list(R = R.version.string, MASS = as.character(packageVersion("MASS")),
                      sandwich = as.character(packageVersion("sandwich")), lmtest = as.character(packageVersion("lmtest")),
                      robustbase = as.character(packageVersion("robustbase")),
                      jsonlite = as.character(packageVersion("jsonlite")))

writeLines(toJSON(refs, digits = NA, auto_unbox = TRUE, na = "string", pretty = FALSE), "r_refs.json")
