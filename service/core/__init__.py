"""The answering core: plain Python, no HTTP. Question → candidates → fusion → sentence ranking → answer and verdict."""
