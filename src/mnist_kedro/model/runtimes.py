"""The exported models run by their own runtimes, each behind the call of
``prediction.Predictor``: a batch of images in, class probabilities out.

ONNX Runtime and the LiteRT interpreter come with the ``export`` extra
(``pip install -e ".[export]"``) and need no TensorFlow: this module imports
neither TensorFlow nor Keras, so a service on one of them starts without it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

EXTRA_HINT = 'install the export extra: pip install -e ".[export]"'


class OnnxPredictor:
    """An ONNX model run by ONNX Runtime on the CPU."""

    def __init__(self, path: str, threads: int | None = None) -> None:
        try:
            import onnxruntime  # noqa: PLC0415 (optional extra)
        except ImportError:
            raise RuntimeError(f"ONNX Runtime is not installed: {EXTRA_HINT}") from None
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = options.inter_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(
            path, options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: images.astype(np.float32)})[0]


class LiteRTPredictor:
    """A LiteRT (TensorFlow Lite) model run by the LiteRT interpreter; its input
    is resized whenever the batch size changes. Not thread-safe, as the
    interpreter is not: one call at a time (the service's event loop)."""

    def __init__(self, path: str, threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415
        except ImportError:
            raise RuntimeError(f"LiteRT is not installed: {EXTRA_HINT}") from None
        self._interpreter = Interpreter(model_path=path, num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple[int, ...] | None = None

    def __call__(self, images: np.ndarray) -> np.ndarray:
        if images.shape != self._shape:
            self._interpreter.resize_tensor_input(self._input, images.shape)
            self._interpreter.allocate_tensors()
            self._shape = images.shape
        self._interpreter.set_tensor(self._input, images.astype(np.float32))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).copy()


class SavedModelPredictor:
    """A TensorFlow SavedModel's ``serve`` signature, as TF Serving calls it."""

    def __init__(self, path: str, threads: int | None = None) -> None:
        import tensorflow as tf  # noqa: PLC0415 (only this runtime needs it)

        # The loaded object owns the variables that ``serve`` reads: keep it.
        self._saved_model = tf.saved_model.load(path)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self._saved_model.serve(images.astype(np.float32)).numpy()


PREDICTOR_OF_FORMAT: dict[str, Callable[..., Callable[[np.ndarray], np.ndarray]]] = {
    "tf_saved_model": SavedModelPredictor,
    "litert": LiteRTPredictor,
    "onnx": OnnxPredictor,
}
