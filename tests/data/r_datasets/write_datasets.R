# Writes R's own data sets as CSV with R's write.csv, so the tests read exactly what R fits.
# Run from this folder: Rscript write_datasets.R  (R 4.2.2, MASS 7.3-58.2)
library(MASS)
# row names carry information here (car model, race), so they are kept: R writes them as an
# unnamed first column ("" in the header)
write.csv(mtcars, "mtcars.csv")
write.csv(hills, "hills.csv")
# the rest have plain 1..n row names: drop them
write.csv(airquality, "airquality.csv", row.names = FALSE)   # NA written as NA
write.csv(stackloss, "stackloss.csv", row.names = FALSE)
write.csv(as.data.frame(phones), "phones.csv", row.names = FALSE)
write.csv(longley, "longley.csv", row.names = FALSE)  # names with dots: GNP.deflator, Armed.Forces
write.csv(PlantGrowth, "PlantGrowth.csv", row.names = FALSE)
