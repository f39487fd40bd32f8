"""mnist-kedro: MNIST digit classification as a Kedro pipeline."""

__version__ = "0.1.0"
