# Linked-tables benchmark: GaussSuppression, one global suppression problem.
# Table "status": (region+county) x gender x status, table "age": (region+county) x gender x (age+agegrp).
# Both tables are terms of ONE model formula, so GaussSuppression builds one model matrix
# with the 1794 distinct cells and protects them in one run (global protection; common cells get one status).
.libPaths(c("~/R/lib", .libPaths()))
suppressPackageStartupMessages(library(GaussSuppression))
cat("R:", R.version.string, " GaussSuppression:", format(packageVersion("GaussSuppression")),
    " SSBtools:", format(packageVersion("SSBtools")), " Matrix:", format(packageVersion("Matrix")), "\n")

d <- read.csv("/work/shared/bench/suppression-4way/microdata.csv", colClasses = "character")
stopifnot(nrow(d) == 10000)

f <- ~ (region + county) * gender * status + (region + county) * gender * (age + agegrp)
tm <- system.time(
  out <- SuppressSmallCounts(data = d, maxN = 4, formula = f, protectZeros = FALSE)
)
print(tm)
print(head(out))
cat("output columns:", names(out), "\n")
cat("distinct cells:", nrow(out), " unique keys:", nrow(unique(out[, c("region","gender","status","age")])), "\n")
gt <- out$freq[out$region == "Total" & out$gender == "Total" & out$status == "Total" & out$age == "Total"]
cat("grand total freq:", gt, "\n")
stopifnot(nrow(out) == 1794, length(gt) == 1, gt == 10000)

# Split into the two tables; cells with status == "Total" & age == "Total" belong to both.
st <- out[out$age == "Total", ]
ag <- out[out$status == "Total", ]
stopifnot(nrow(st) == 897, nrow(ag) == 966)
res <- rbind(
  data.frame(table = "status", region = st$region, gender = st$gender, variable = st$status,
             freq = st$freq, primary = st$primary, suppressed = st$suppressed),
  data.frame(table = "age", region = ag$region, gender = ag$gender, variable = ag$age,
             freq = ag$freq, primary = ag$primary, suppressed = ag$suppressed))
write.csv(res, "/tmp/gauss-linked/gauss_linked_result.csv", row.names = FALSE, quote = FALSE)

sec <- out$suppressed & !out$primary
cat("rows written:", nrow(res), "\n")
cat("cells:", nrow(out), " zeros:", sum(out$freq == 0), " primary:", sum(out$primary),
    " secondary:", sum(sec), " suppressed:", sum(out$suppressed), "\n")
cat("sum freq suppressed:", sum(out$freq[out$suppressed]), " sum freq secondary:", sum(out$freq[sec]),
    " max secondary freq:", if (any(sec)) max(out$freq[sec]) else NA, "\n")
cat("primary with freq 0 (should be 0):", sum(out$primary & out$freq == 0),
    " primary outside 1..4 (should be 0):", sum(out$primary & !(out$freq %in% 1:4)),
    " 1..4 not primary (should be 0):", sum(!out$primary & out$freq %in% 1:4), "\n")
for (tb in c("status", "age")) {
  r <- res[res$table == tb, ]; s <- r$suppressed & !r$primary
  cat("table", tb, ": rows", nrow(r), " primary", sum(r$primary), " secondary", sum(s),
      " suppressed", sum(r$suppressed), "\n")
}
