"""Data: dataset readers (real layouts and built-in synthetic sets), paired transforms and
LightningDataModules."""
