# References for predict: the confidence band and prediction interval of a fitted curve at new sizes.
#
#   loglinear: lm(log_err ~ x * mix, weights = w) and predict.lm(interval = "confidence" / "prediction",
#              weights = 1 for the new observation), on the bundled digits table (mnist5k -> mnist5k)
#   saturating: nls(log_err ~ log2(E + 2^(a + b*x)), weights = w) on mnist5k -> sklearn_digits without
#              mixup (its floor is well inside E > 0); R's predict.nls gives no intervals, so the band is
#              the delta method written out here: se_fit^2 = g' vcov(fit) g with the law's gradient g,
#              and the prediction interval adds sigma^2 / weight; t quantiles on df.residual.
#
# x = log2(TS) - log2(min TS) with the minimum over the whole table, w = 1 / trials.
# Written by R 4.2.2 with jsonlite; from the repository root:
#
#   Rscript tests/data/predict/make_predict_refs.R
suppressMessages(library(jsonlite))
options(digits = 17)

d <- read.csv("powerlaw_stats/data/datasets/digits_curves.csv", stringsAsFactors = FALSE)
d <- d[!is.na(d$error), ]
d$TS <- d$train_size; d$log_err <- log2(d$error); d$w <- 1 / d$trials; d$mix <- factor(d$mixup)
ixmin <- log2(min(d$TS)); d$x <- log2(d$TS) - ixmin
sizes <- c(80, 640, 5120, 40960)
levels <- c(0.95, 0.8)

# --- loglinear: R's own predict.lm
one <- d[d$train_set == "mnist5k" & d$eval_set == "mnist5k", ]
lin <- lm(log_err ~ x * mix, data = one, weights = w)
new <- expand.grid(TS = sizes, mix = factor(c(0, 1), levels = levels(one$mix)))
new$x <- log2(new$TS) - ixmin
lin_out <- list()
for (lev in levels) {
  conf <- predict(lin, new, interval = "confidence", level = lev, se.fit = TRUE)
  pred <- suppressWarnings(predict(lin, new, interval = "prediction", level = lev, weights = 1))
  lin_out[[length(lin_out) + 1]] <- list(level = lev, fit = unname(conf$fit[, "fit"]), se_fit = unname(conf$se.fit),
                                         conf_lower = unname(conf$fit[, "lwr"]), conf_upper = unname(conf$fit[, "upr"]),
                                         pred_lower = unname(pred[, "lwr"]), pred_upper = unname(pred[, "upr"]))
}

# --- saturating: nls with the analytic gradient, then the delta method
sat <- d[d$train_set == "mnist5k" & d$eval_set == "sklearn_digits" & d$mixup == 0, ]
law <- function(E, a, b, x) {
  u <- a + b * x; tot <- E + 2^u; f <- log2(tot); s <- 2^u / tot
  attr(f, "gradient") <- cbind(E = 1 / (tot * log(2)), a = s, b = s * x)
  f
}
fit <- nls(log_err ~ law(E, a, b, x), data = sat, weights = w, start = list(E = 0.35, a = -1.3, b = -0.8),
           control = nls.control(maxiter = 500, tol = 1e-9, minFactor = 1e-14))
cf <- coef(fit); V <- vcov(fit); s2 <- summary(fit)$sigma^2; df <- df.residual(fit)
xn <- log2(sizes) - ixmin
g <- attr(law(cf["E"], cf["a"], cf["b"], xn), "gradient")
mu <- as.numeric(law(cf["E"], cf["a"], cf["b"], xn))
se <- sqrt(rowSums((g %*% V) * g))
sat_out <- list()
for (lev in levels) {
  q <- qt(1 - (1 - lev) / 2, df)
  sat_out[[length(sat_out) + 1]] <- list(level = lev, fit = mu, se_fit = se, conf_lower = mu - q * se,
                                         conf_upper = mu + q * se, pred_lower = mu - q * sqrt(s2 + se^2),
                                         pred_upper = mu + q * sqrt(s2 + se^2))
}

out <- list(
  r_version = R.version.string,
  loglinear = list(where = "train_set == 'mnist5k' and eval_set == 'mnist5k'", formula = "log_err ~ x * mix",
                   sizes = new$TS, mix = as.character(new$mix), coefficients = as.list(coef(lin)),
                   sigma = summary(lin)$sigma, df = df.residual(lin), levels = lin_out),
  saturating = list(where = "train_set == 'mnist5k' and eval_set == 'sklearn_digits' and mixup == 0",
                    sizes = sizes, coefficients = as.list(cf), sigma = sqrt(s2), df = df, levels = sat_out)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/data/predict/predict_refs.json")
