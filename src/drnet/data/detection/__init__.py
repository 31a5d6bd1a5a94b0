"""Detection data: the COCO reader, the sample format and its transforms (``samples``), the
synthetic shapes set and the DataModules (``datamodules``, the only module here that imports
Lightning)."""
