import sys

import pytest


@pytest.fixture
def python_frames():
    """calls(f, *args) -> (f(*args), the names of the Python functions the call entered):
    what the native entry leaves to Python."""
    def calls(f, *args):
        seen = []

        def profile(frame, event, arg):
            if event == "call":
                seen.append(frame.f_code.co_name)
        sys.setprofile(profile)
        try:
            out = f(*args)
        finally:
            sys.setprofile(None)
        return out, seen
    return calls
