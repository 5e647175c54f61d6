"""Two ways to compute F(2, 3), two outputs of a 3-tap correlation over 4 inputs, shared by the
tests of exercise 06's product count: the direct one (6 products) and Winograd's minimal
filtering (Lavin & Gray 2016, eq. 5: 4 products of input-dependent values)."""
from __future__ import annotations


def direct_f23(d, g):
    return [d[0] * g[0] + d[1] * g[1] + d[2] * g[2], d[1] * g[0] + d[2] * g[1] + d[3] * g[2]]


def winograd_f23(d, g):
    m1, m4 = (d[0] - d[2]) * g[0], (d[1] - d[3]) * g[2]
    m2 = (d[1] + d[2]) * ((g[0] + g[1] + g[2]) / 2)
    m3 = (d[2] - d[1]) * ((g[0] - g[1] + g[2]) / 2)
    return [m1 + m2 + m3, m2 - m3 - m4]
