# The R reference for benchmarks/bench_million.py: MASS::rlm (Huber, prior weights 1/trials) on a
# million-row learning-curve table, reading the CSV as a user would.
#
#   Rscript benchmarks/million_rows.R PATH.csv [tight|mass]
#
# "tight" (the default) iterates as powerlaw-stats fit does by default (maxit 200, acc 1e-10);
# "mass" keeps MASS's own defaults (maxit 20, acc 1e-4), as `fit --r-defaults` does.
# Prints the coefficient table (summary.rlm) and the seconds spent reading and fitting, so the
# Python side can compare its numbers to R's and its time to R's in the same run.
suppressMessages(library(MASS))

args <- commandArgs(trailingOnly = TRUE)
path <- args[1]
tight <- length(args) < 2 || args[2] == "tight"
t0 <- proc.time()[["elapsed"]]
runs <- read.csv(path)
runs$TS <- runs$train_size
runs$log_err <- log2(runs$error)
runs$mix <- factor(runs$mixup)
runs$CinicTr <- factor(as.integer(runs$train_set == "cinic10"))
runs$CinicEv <- factor(as.integer(runs$eval_set == "cinic10"))
runs$param <- runs$params
runs$w <- 1 / runs$trials
IXMin <- log2(min(runs$TS))
IPMin <- log2(min(runs$param))
t1 <- proc.time()[["elapsed"]]
fit <- rlm(log_err ~ I(log2(TS) - IXMin) * (mix + CinicTr * CinicEv) + I(log2(param) - IPMin) * mix,
           data = runs, weights = w, maxit = if (tight) 200 else 20, acc = if (tight) 1e-10 else 1e-4)
s <- summary(fit)
t2 <- proc.time()[["elapsed"]]
co <- s$coefficients
cat(sprintf("coef\t%s\t%.17g\t%.17g\n", rownames(co), co[, 1], co[, 2]), sep = "")
cat(sprintf("converged\t%s\titer\t%d\n", fit$converged, length(fit$conv)))
cat(sprintf("seconds\tread\t%.3f\tfit\t%.3f\n", t1 - t0, t2 - t1))
