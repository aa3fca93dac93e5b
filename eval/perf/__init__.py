"""Performance: serving, indexing and scale benchmarks, each printing its figures and ratios."""
