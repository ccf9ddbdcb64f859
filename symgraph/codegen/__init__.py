"""Executors and code generation backends."""
