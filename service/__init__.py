"""Extractive question answering over inspection reports, served over HTTP."""
