"""function(), its modes and the compiled Function object."""
