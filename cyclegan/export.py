"""The former home of the ONNX export CLI, kept so that ``python -m cyclegan.export MODEL_DIR --onnx`` still works.

The CPU graph, its ONNX export and the CLI live in ``cyclegan.cpu_graph`` (``python -m cyclegan.cpu_graph``).
"""
import sys

from .cpu_graph import main

if __name__ == "__main__":
    sys.exit(main())
