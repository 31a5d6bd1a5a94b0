"""Segmentation data: one reader per on-disk layout (Cityscapes, VOC, the official DRN lists, a
folder of images and masks), the shared image/mask decoder (``files``), the synthetic context set
and the DataModules (``datamodules``, the only module here that imports Lightning)."""
