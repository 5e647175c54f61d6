"""Layers the course writes by hand. Importing this package registers them for ``.keras`` loading."""
