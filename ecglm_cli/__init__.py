"""ecglm: read electrocardiograms and answer questions about them."""

__version__ = "0.1.0"
