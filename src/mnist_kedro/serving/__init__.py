"""Serving the trained model: preparing drawn digits the way MNIST's were."""
