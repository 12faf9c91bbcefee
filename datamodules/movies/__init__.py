"""Naturalistic movies with fMRI time series (Algonauts 2025 / CNeuroMod, or a generic folder):
reading the files (:mod:`.files`) and decoding frames at a fixed rate (:mod:`.decode`)."""
