"""Heavy libraries' types that nodes take or return.

Kedro evaluates the annotations of every node of the pipelines that it runs
(to validate typed parameters), at each run. Annotated with Keras' or
Matplotlib's own classes, every run would import TensorFlow and Matplotlib,
whichever nodes it runs: type checkers see those classes, running code ``Any``.
"""

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure

    KerasModel: TypeAlias = keras.Model
    MatplotlibFigure: TypeAlias = Figure
else:
    KerasModel = MatplotlibFigure = Any
