"""Philippine BIR rules as data and pure functions: ATC catalog, TIN rules. No Spark, no I/O."""
