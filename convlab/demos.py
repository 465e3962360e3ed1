"""Showing an error on a page without stopping the notebook: `expect_error`.

    with convlab.expect_error(RuntimeError):
        broken_model(images)

prints the error the way the page would show it (`RuntimeError: ...`) and goes
on, so Colab's and VS Code's "Run All" (which ignore cell tags) reach the end of
the notebook. If nothing is raised, or something else, it fails loudly: a
demonstration that stopped demonstrating is a bug on the page.
"""

import contextlib

from convlab.errors import error


@contextlib.contextmanager
def expect_error(*expected: type):
    """Run the block, expecting one of the exception types expected; print it as 'Name: message'."""
    if not expected or not all(isinstance(e, type) and issubclass(e, BaseException) for e in expected):
        raise error(f"expect_error needs exception types, got {expected!r}.",
                    "pass the type the block should raise, e.g. expect_error(RuntimeError).")
    try:
        yield
    except expected as problem:
        print(f"{type(problem).__name__}: {problem}")
    else:
        names = " or ".join(e.__name__ for e in expected)
        raise AssertionError(f"the block was expected to raise {names}, but it ran without an error")
