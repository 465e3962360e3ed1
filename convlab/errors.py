"""The one exception convlab raises, and the one helper that words it."""


class ConvlabError(ValueError):
    """A convolution was asked for that cannot work; the message says why and how to fix it."""

    def _render_traceback_(self):
        # IPython shows this instead of a traceback: the message is the whole point,
        # and a student needs no tour of convlab's internals to act on it.
        return [f"\x1b[31mConvlabError\x1b[39m: {self}"]


def error(problem: str, fix: str) -> ConvlabError:
    """Build a ConvlabError whose message states the problem (with its numbers) and the fix.

    Callers write ``raise error(...) from None`` so a student sees this message,
    not a traceback from deep inside torch.
    """
    return ConvlabError(f"{problem}\n  Fix: {fix}")
