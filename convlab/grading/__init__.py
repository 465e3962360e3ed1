"""The grading engine: untrusted notebooks run in sandboxes, points are decided outside them.

    batch.py     find submissions, grade them `jobs` at a time, write results as they finish
    sandbox.py   one bubblewrap sandbox per submission (namespaces, read-only system, limits)
    runner.py    the kernel inside a sandbox: runs cells and answers the judge's requests
    kernel.py    the trusted side's handle on one sandboxed kernel (pipes, deadlines, kills)
    judge.py     grade one submission: run its cells, then each question's check, here
    records.py   typed records: Job, QuestionResult, Result
    report.py    the table, the CSV gradebook and the JSON summary
    procs.py     killing process groups, dying with the parent

The questions and their checks live in convlab/exercises/; `convlab grade` is batch.main.
"""
