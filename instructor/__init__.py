"""Instructor material: the answer keys of the graded assignments.

Not part of the installable ``course`` package and not in the student bundle that
``python -m course release`` builds. ``import instructor.reference`` registers the reference
models and recipes with ``course.models`` and ``course.recipes``; the solutions, the tests and
the benchmarks use them from a clone of the repository.
"""
