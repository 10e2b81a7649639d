"""The model stage: a trained encoder and its parts in, `fitted.FittedUmap` (transform, refine,
inverse_transform) and files out.

`fitted` is the model, `refine` the training index that ``transform(X, refine=True)``
searches, `io` and `model_file` the model files, `formats` the file containers (shared with
training checkpoints), and `onnx_export` the ONNX files.
"""
