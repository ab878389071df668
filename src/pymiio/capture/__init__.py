"""Captured miIO traffic: decoding packets (``decode``) and reading capture files (``files``)."""
