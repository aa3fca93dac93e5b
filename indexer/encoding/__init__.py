"""Encoding: the embedding models, where they live, and the encoders (PyTorch or int8 ONNX) that turn text into vectors."""
