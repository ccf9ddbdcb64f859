"""Skip marks of the CUDA tests: NVRTC (compile checks, no device) and a CUDA device."""
import pytest

from symgraph.codegen import cuda


def _nvrtc_skip_reason():
    if cuda.cupy_or_none() is None:
        return "cupy is not installed (pip install 'symgraph[cuda]'): NVRTC checks skipped"
    try:
        cuda.nvrtc_version()
    except cuda.CudaUnavailableError as e:
        return f"NVRTC cannot be loaded: {e}"
    return None


NVRTC_SKIP = _nvrtc_skip_reason()
needs_nvrtc = pytest.mark.skipif(NVRTC_SKIP is not None, reason=str(NVRTC_SKIP))
needs_gpu = pytest.mark.skipif(not cuda.device_available(),
                               reason="no CUDA device: cupy.cuda.is_available() is False "
                                      "(or cupy is not installed)")
