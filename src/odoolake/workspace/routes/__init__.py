"""HTTP routes, one module per API group: parse → one service call → JSON. No SQL, no state rules."""
