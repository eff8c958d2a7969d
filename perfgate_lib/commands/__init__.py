"""One module per ``perfgate`` sub-command; each exports a click command named ``command``."""
