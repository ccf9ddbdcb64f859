"""(to be written: the linalg op family)."""
__all__ = []
