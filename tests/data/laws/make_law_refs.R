# References for powerlaw_stats.laws: the saturating law fitted by R on the project's data.
#
#   log2(error) = log2(E + 2^(a + b*x)),  x = log2(TS) - log2(min TS)
#
# with E, a and b each linear in its own formula (nlme::gnls's `params`), prior weights w = 1/trials
# (gnls: varFixed(~1/w); nls: weights = w). Written by R 4.2.2 with nlme, MASS, sandwich, jsonlite:
#
#   Rscript tests/data/laws/make_law_refs.R   (from the repository root)
#
# For every case: gnls and nls unbounded (coefficients, SEs, sigma, logLik, AIC, RSS), nls "port"
# with the floor bounded below by 0 in every cell (E written cell by cell, ~ 0 + factor, so the
# bound is a box bound), sandwich's HC0 and CR1 (clustered by run) on the nls fit, and MASS's
# profile intervals (confint.nls) for the floor and the slope terms.
suppressMessages({library(nlme); library(MASS); library(sandwich); library(jsonlite)})
options(digits = 17)

prep <- function(path, where = NULL) {
  d <- read.csv(path, stringsAsFactors = FALSE)
  d <- d[!is.na(d$error), ]
  d$TS <- d$train_size; d$log_err <- log2(d$error); d$mix <- factor(d$mixup)
  d$TrainSet <- factor(d$train_set); d$EvalSet <- factor(d$eval_set); d$w <- 1 / d$trials
  d$x <- log2(d$TS) - log2(min(d$TS))  # IXMin is taken over the whole table, before any subset
  if (!is.null(where)) d <- d[eval(parse(text = where), d), ]
  d$TrainSet <- droplevels(d$TrainSet); d$EvalSet <- droplevels(d$EvalSet)
  d
}

mm <- function(rhs, d) model.matrix(as.formula(paste("~", rhs)), d)

# the law with its analytic gradient: nls's numerical derivatives produce NaN near a negative
# floor and stall its Gauss-Newton steps; exact derivatives let it converge to 1e-9
sat_rows <- function(E, a, b, x) {  # per-row parameters, for gnls
  u <- a + b * x; tot <- E + 2^u; f <- log2(tot); s <- 2^u / tot
  attr(f, "gradient") <- cbind(E = 1 / (tot * log(2)), a = s, b = s * x)
  f
}
sat_coef <- function(E, a, b, ZE, Za, Zb, x) {  # coefficient vectors and designs, for nls
  e <- drop(ZE %*% E); u <- drop(Za %*% a) + drop(Zb %*% b) * x; tot <- e + 2^u; f <- log2(tot); s <- 2^u / tot
  g <- cbind(ZE / (tot * log(2)), Za * s, Zb * (s * x))
  colnames(g) <- c(paste0("E", seq_len(ncol(ZE))), paste0("a", seq_len(ncol(Za))), paste0("b", seq_len(ncol(Zb))))
  attr(f, "gradient") <- g
  f
}

# R-side starts, independent of the Python code: a and b from the straight line fitted to
# log2(error - E0) for a few floors E0, keeping the converged nls fit with the smallest RSS
fit_nls <- function(d, ZE, Za, Zb, lower = NULL) {
  best <- NULL
  for (frac in c(0, 0.25, 0.5, 0.75)) {
    e_rows <- frac * ave(d$error, apply(ZE, 1, paste, collapse = ""), FUN = min)
    e0 <- qr.solve(ZE, e_rows)
    z <- log2(pmax(d$error - drop(ZE %*% e0), 1e-3 * d$error))
    ab <- coef(lm.wfit(cbind(Za, Zb * d$x), z, d$w))
    st <- list(E = e0, a = ab[seq_len(ncol(Za))], b = ab[-seq_len(ncol(Za))])
    for (s in c(0, -0.01, 0.01)) {  # nudge a zero floor so the port algorithm can move it
      st$E <- e0 + s * (frac == 0)
      if (!is.null(lower) && any(drop(ZE %*% st$E) < 0)) next
      args <- list(formula = log_err ~ sat_coef(E, a, b, ZE, Za, Zb, x),
                   data = d, start = st, weights = d$w, algorithm = "port",
                   control = nls.control(maxiter = 2000, tol = 1e-12, minFactor = 1e-14, warnOnly = TRUE,
                                         scaleOffset = 0))
      if (!is.null(lower)) args$lower <- c(rep(0, ncol(ZE)), rep(-Inf, ncol(Za) + ncol(Zb)))
      f <- try(do.call(nls, args), silent = TRUE)
      if (inherits(f, "try-error")) next
      if (is.null(best) || deviance(f) < deviance(best) - 1e-12) best <- f
    }
  }
  best
}

polish <- function(f, d, ZE, Za, Zb) {
  # Gauss-Newton from the port optimum, as tight as it gets: port stops at a relative offset of
  # about 1e-7, Gauss-Newton with exact derivatives reaches 1e-8 or better in a few steps
  cf <- coef(f); nE <- ncol(ZE); na <- ncol(Za)
  st <- list(E = unname(cf[seq_len(nE)]), a = unname(cf[nE + seq_len(na)]), b = unname(cf[-seq_len(nE + na)]))
  for (tol in c(1e-9, 1e-8, 1e-7)) {
    g <- try(nls(log_err ~ sat_coef(E, a, b, ZE, Za, Zb, x), data = d, start = st, weights = d$w,
                 control = nls.control(maxiter = 10000, tol = tol, minFactor = 1e-14)), silent = TRUE)
    if (!inherits(g, "try-error")) return(g)
  }
  f
}

relative_offset <- function(f) {
  # Bates and Watts' criterion at the estimate (what nls's default algorithm stops on)
  qr_g <- qr(f$m$gradient()); r <- f$m$resid(); p <- qr_g$rank
  qtr <- qr.qty(qr_g, r)
  sqrt(sum(qtr[seq_len(p)]^2) / sum(qtr[-seq_len(p)]^2))
}

run_case <- function(name, path, E, a, b, where = NULL, bounded_E = NULL, profile = TRUE) {
  message(name)
  d <- prep(path, where)
  ZE <- mm(E, d); Za <- mm(a, d); Zb <- mm(b, d)
  out <- list(data = basename(path), where = where, E = E, a = a, b = b, n = nrow(d))
  f <- polish(fit_nls(d, ZE, Za, Zb), d, ZE, Za, Zb)
  s <- summary(f)
  out$nls <- list(coef = unname(coef(f)), se = unname(s$coefficients[, 2]), sigma = s$sigma, df = s$df[2],
                  rss = deviance(f), logLik = as.numeric(logLik(f)), AIC = AIC(f), BIC = BIC(f),
                  relative_offset = relative_offset(f),
                  hc0_se = unname(sqrt(diag(sandwich::sandwich(f)))),
                  cr1_se = unname(sqrt(diag(sandwich::vcovCL(f, cluster = d$run_id, type = "HC1")))))
  cf <- coef(f); nE <- ncol(ZE); na <- ncol(Za)
  g <- NULL
  for (tol in c(1e-10, 1e-8, 1e-6)) {  # as tight as gnls's step halving allows
    g <- try(gnls(log_err ~ sat_rows(E, a, b, x), data = d,
                  params = list(as.formula(paste("E ~", E)), as.formula(paste("a ~", a)), as.formula(paste("b ~", b))),
                  start = unname(cf), weights = varFixed(~ 1 / w),
                  control = gnlsControl(maxIter = 200, nlsMaxIter = 200, tolerance = tol, nlsTol = tol)), silent = TRUE)
    if (!inherits(g, "try-error")) break
  }
  out$gnls <- list(tolerance = tol, names = names(coef(g)), coef = unname(coef(g)), se = unname(sqrt(diag(vcov(g)))),
                   sigma = g$sigma, logLik = as.numeric(logLik(g)), AIC = AIC(g), BIC = BIC(g))
  if (profile) {
    # profile.nls refits at each step with the fit's own control: nls's default tolerance (1e-6)
    pick <- c(grep("^E", names(cf), value = TRUE), grep("^b", names(cf), value = TRUE))
    st <- list(E = unname(cf[seq_len(nE)]), a = unname(cf[nE + seq_len(na)]), b = unname(cf[-seq_len(nE + na)]))
    fp <- nls(log_err ~ sat_coef(E, a, b, ZE, Za, Zb, x), data = d, start = st, weights = d$w,
              control = nls.control(maxiter = 1000, tol = 1e-6, minFactor = 1e-12))
    ci <- try(suppressMessages(confint(fp, parm = pick, level = 0.95)), silent = TRUE)
    if (!inherits(ci, "try-error")) out$profile <- list(parm = pick, lower = unname(ci[, 1]), upper = unname(ci[, 2]))
  }
  if (!is.null(bounded_E)) {
    # the floor cell by cell (~ 0 + factor): E >= 0 in every cell is a box bound for "port"
    ZEc <- mm(bounded_E, d)
    fb <- fit_nls(d, ZEc, Za, Zb, lower = TRUE)
    out$bounded <- list(E = bounded_E, coef = unname(coef(fb)), rss = deviance(fb),
                        relative_offset = relative_offset(fb),
                        fitted = unname(fitted(fb)[1:10]))
  }
  out
}

digits <- "powerlaw_stats/data/datasets/digits_curves.csv"
curves <- "tests/data/curves_a.csv"
B <- "mix + TrainSet*EvalSet"
refs <- list(
  digits_E1 = run_case("digits_E1", digits, "1", "TrainSet*EvalSet", B, bounded_E = "1"),
  digits_EEval = run_case("digits_EEval", digits, "EvalSet", "mix + TrainSet*EvalSet", B,
                          bounded_E = "0 + EvalSet"),
  digits_ETE = run_case("digits_ETE", digits, "TrainSet*EvalSet", "mix + TrainSet*EvalSet", B,
                        bounded_E = "0 + TrainSet:EvalSet", profile = FALSE),
  curves_E1 = run_case("curves_E1", curves, "1", "TrainSet*EvalSet", B, bounded_E = "1"),
  curves_EEval = run_case("curves_EEval", curves, "EvalSet", "TrainSet*EvalSet", B, bounded_E = "0 + EvalSet")
)
refs$versions <- list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                      MASS = as.character(packageVersion("MASS")), sandwich = as.character(packageVersion("sandwich")))
writeLines(toJSON(refs, digits = I(17), auto_unbox = TRUE, pretty = TRUE, null = "null"), "tests/data/laws/law_refs.json")
