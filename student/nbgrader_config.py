# nbgrader's settings for `nbgrader validate` run in this folder (the student edition's
# exercises/; README.md, "Check it").
c = get_config()  # noqa: F821 - nbgrader defines it when it reads this file

# A cell may start TensorFlow or train a model: minutes, where nbgrader's default limit is 30 s
# per cell (after which it interrupts the kernel and every later check fails with a NameError).
c.Execute.timeout = 3600
