"""FunctionGraph and graph rewrites."""
