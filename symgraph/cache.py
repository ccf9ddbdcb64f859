"""``python -m symgraph.cache {list,clear,info}``: manage the compile cache
(``config.compiledir``; see `symgraph.codegen.cache`)."""
import sys

from .codegen.cache import clear, entries, explain, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
