"""The one exception convlab raises, the one helper that words it, and the one way sizes are shown.

A ConvlabError carries its two parts as attributes: ``problem`` (what was called,
with which numbers, what mismatched) and ``fix`` (what to do). Its message is
``problem\\n  Fix: fix``. Code that wants either part reads the attribute; it
never splits the message.
"""


class ConvlabError(ValueError):
    """A convolution was asked for that cannot work; the message says why and how to fix it.

    ``ConvlabError(problem, fix)``; ``fix`` may be left out (then the message is
    the problem alone), as subclasses with a one-line message do.
    """

    def __init__(self, problem: str, fix: str | None = None):
        super().__init__(problem, fix)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return self.problem if self.fix is None else f"{self.problem}\n  Fix: {self.fix}"

    def _render_traceback_(self):
        # IPython shows this instead of a traceback: the message is the whole point,
        # and a student needs no tour of convlab's internals to act on it.
        return [f"\x1b[31m{type(self).__name__}\x1b[39m: {self}"]


def error(problem: str, fix: str) -> ConvlabError:
    """Build a ConvlabError whose message states the problem (with its numbers) and the fix.

    Callers write ``raise error(...) from None`` so a student sees this message,
    not a traceback from deep inside torch.
    """
    return ConvlabError(problem, fix)


def show_size(values) -> str:
    """An (h, w) size as the messages show it: '3×5', and '3×3' for a square (from 3 or (3, 3))."""
    values = [values] if isinstance(values, int) else list(values)
    if len(values) == 1:
        values = values * 2
    return "×".join(str(v) for v in values)


def show_shape(values) -> str:
    """A shape or tuple of numbers written as Python writes a tuple: '(1, 3, 28, 28)', '(5,)'."""
    values = [str(int(v)) for v in values]
    return f"({values[0]},)" if len(values) == 1 else "(" + ", ".join(values) + ")"


def plural(count: int, noun: str) -> str:
    """'1 channel', '3 channels', '0 channels'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
