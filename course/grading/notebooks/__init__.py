"""Autograding submitted notebooks: ``python -m course autograde``.

Each notebook is one self-contained job (``job``: a ``NotebookJob`` in, a grade out): the
student's kernel runs in a bubblewrap sandbox (``sandbox``, ``kernel``) and the check cells run
in the judge (``judge``), which asks the kernel for the student's results as plain data
(``remote``, ``agent``, ``wire``). ``submissions`` finds and sanitizes notebooks, ``batch`` runs
a folder of them, ``gradebook`` writes the results, ``nbgrader_support`` serves nbgrader.
"""
