"""Classification data: ImageFolder and CIFAR-10 readers (``readers``), the synthetic gratings
and the DataModules (``datamodules``, the only module here that imports Lightning)."""
