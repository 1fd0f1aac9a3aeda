// Placeholder; the module's real files replace this.
