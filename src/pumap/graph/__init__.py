"""The graph stage: checked ``X`` in, the fuzzy simplicial set (a `fuzzy.FuzzyGraph` edge list)
out.

`neighbours` runs a fit's k-NN search (through `pumap.knn`) and records what it did, `fuzzy`
turns the neighbours into memberships and their fuzzy union, and `supervised` intersects that
graph with one of labels or targets.
"""
