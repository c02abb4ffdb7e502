"""Preprocessing: pure numpy functions on `[leads, samples]` arrays (numpy in, numpy out).

Import the stage you need (`ecglm_cli.signal.resample`, `.filters`, `.gaps`, `.windows`);
nothing is imported here, so using one stage does not pay for scipy's filters.
"""
