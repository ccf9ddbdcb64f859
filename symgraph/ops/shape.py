"""(to be written: the shape op family)."""
__all__ = []
