"""The dock widget: one panel per section, composed by ``dock.DenoiseWidget``."""
