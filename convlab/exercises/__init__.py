"""Graded exercises: checks per chapter, the self-check, assign and grade.

    from convlab.exercises import check
    check("01.q3", output_size)      # ✓ / ✗ with the reason, never the answer

The format of solutions, exercises and checks is in README.md in this folder.
`assign` and `grade` are imported lazily by the command line.
"""

from convlab.exercises.core import REGISTRY, Question, Wrong, check, question

__all__ = ["REGISTRY", "Question", "Wrong", "check", "question"]
