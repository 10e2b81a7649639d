"""The data stage: raw ``X`` in, a checked float32 tensor (or float32 CSR rows) and the z-score
`Standardizer` out.

`preprocess` checks dense input and standardises it, `sparse` does the same for scipy.sparse
input without densifying it, `pca` finds principal axes (for the warm start and the refine
sketch), and `inputs` holds what a fit does differently for sparse input, precomputed
neighbours and distance matrices.
"""
