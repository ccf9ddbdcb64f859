"""(to be written: the reduce op family)."""
__all__ = []
