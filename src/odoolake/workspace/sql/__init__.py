"""The SQL warehouse and the Statement Execution API on the embedded engine."""
