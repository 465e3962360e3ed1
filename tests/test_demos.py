"""expect_error: shows the expected error, fails loudly on anything else."""

import pytest

from convlab import ConvlabError, expect_error


def test_the_expected_error_is_printed_and_swallowed(capsys):
    with expect_error(ZeroDivisionError):
        1 / 0  # noqa: B018
    assert capsys.readouterr().out == "ZeroDivisionError: division by zero\n"


def test_a_block_that_raises_nothing_fails():
    with pytest.raises(AssertionError, match="expected to raise RuntimeError or KeyError"):
        with expect_error(RuntimeError, KeyError):
            pass


def test_another_error_passes_through():
    with pytest.raises(KeyError):
        with expect_error(RuntimeError):
            raise KeyError("x")


def test_it_needs_exception_types():
    with pytest.raises(ConvlabError, match="exception types"):
        with expect_error("RuntimeError"):
            pass
