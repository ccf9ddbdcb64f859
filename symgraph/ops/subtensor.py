"""(to be written: the subtensor op family)."""
__all__ = []
